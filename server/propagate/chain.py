"""Where each pixel of a frame was in a keyframe: coordinates carried along the render's motion.

A chain starts at a keyframe with the identity map and moves one frame at a
time, forward (along each frame's ``motion_backward``) or backward (along
``motion_forward``). Instead of warping the keyframe image frame after frame,
which blurs it a little more at every step, the chain composes the sampling
coordinates and the keyframe is sampled once, at the end, from wherever each
pixel came from: long spans stay sharp (the re-anchoring of EbSynth-like tools,
exact here because the motion is the renderer's).

A pixel stays trusted (``seen`` near 1) only while the motion is consistent
both ways, the depth agrees, its object id matches the keyframe's at the place
it came from, and it never left the frame.

Frame-to-frame tracing loses every pixel that was hidden for a while (the wall
behind an object that crossed it), although the keyframe saw it. With object
ids, :func:`step_chain` re-anchors such pixels directly to the keyframe: an
object's displacement to the keyframe is smooth, so where its traced pixels
stop, their displacement is carried into the lost ones (push-pull
interpolation within the object), and the pixel is trusted again if the
keyframe's render shows the same object there, looking the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..restyle.temporal import Warp

__all__ = ["Guides", "Chain", "KeyView", "start_chain", "step_chain", "trust"]


@dataclass(frozen=True)
class Guides:
    """What one frame contributes to chains: its motion both ways, depth and object ids (each may be absent)."""

    motion_backward: np.ndarray | None
    motion_forward: np.ndarray | None
    depth: np.ndarray | None
    object_index: np.ndarray | None


@dataclass(frozen=True)
class Chain:
    """Per pixel of frame ``frame``: its position in keyframe ``key`` and how far that can be trusted (0..1)."""

    key: int
    frame: int
    coords: np.ndarray  # (H, W, 2) float32 x, y in keyframe pixels
    seen: np.ndarray    # (H, W) float32


def start_chain(key: int, height: int, width: int) -> Chain:
    """The chain of a keyframe in its own frame: every pixel where it is, fully trusted."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return Chain(key, key, np.dstack([xs, ys]), np.ones((height, width), np.float32))


@dataclass(frozen=True)
class KeyView:
    """What the render showed at a keyframe: object ids (or None) and display colours, for re-anchoring."""

    objects: np.ndarray | None
    look: np.ndarray


def step_chain(chain: Chain, frame: int, guides: Guides, from_guides: Guides, key: KeyView, render_look: np.ndarray,
               motion: np.ndarray, back_motion: np.ndarray | None, *, depth_tolerance: float) -> Chain:
    """Move ``chain`` from its frame to the adjacent ``frame``.

    ``motion`` takes each pixel of ``frame`` to its place in the chain's frame;
    ``back_motion`` is the chain frame's motion towards ``frame`` (for the
    two-way check); ``key`` is what the render showed at the keyframe and
    ``render_look`` the render's display colours at ``frame``.
    """
    step = Warp(motion)
    coords = step.apply(chain.coords)
    seen = step.apply(chain.seen) * step.consistency(back_motion, depth=guides.depth, previous_depth=from_guides.depth,
                                                     depth_tolerance=depth_tolerance)
    if key.objects is not None and guides.object_index is not None:
        seen *= _same_object(coords, key.objects, guides.object_index)
        coords, seen = _reanchor(coords, seen, key, guides.object_index, render_look)
    return Chain(chain.key, frame, coords, seen)


LIKENESS = (0.03, 0.10)  # guide-colour difference up to which the keyframe's look is fully trusted, and from which not at all


def trust(chain: Chain, key: KeyView, render_look: np.ndarray) -> np.ndarray:
    """The chain's trust in the keyframe's look for this frame: geometric trust, faded where the render changed.

    Render motion knows nothing of moving shadows, highlights or lighting: where the
    render here no longer looks as it did at the keyframe's place, the keyframe's
    look does not apply as painted. Evaluated afresh each frame, never carried, so a
    pixel a shadow passed over is trusted again once it has passed.
    """
    there = cv2.remap(key.look, chain.coords[..., 0], chain.coords[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    difference = np.abs(there - render_look).max(axis=2)
    low, high = LIKENESS
    return chain.seen * np.clip((high - difference) / (high - low), 0.0, 1.0)


def _same_object(coords: np.ndarray, key_objects: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """1 where the keyframe shows this pixel's object at the place the pixel takes its look from (ids are exact)."""
    height, width = key_objects.shape
    origin = cv2.remap(key_objects, coords[..., 0], coords[..., 1], cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                       borderValue=-1.0)
    inside = (coords[..., 0] >= 0) & (coords[..., 0] <= width - 1) & (coords[..., 1] >= 0) & (coords[..., 1] <= height - 1)
    return ((origin == objects) & inside).astype(np.float32)


MIN_TRACED = 16  # traced pixels an object needs before its displacement is carried into its lost ones


LOOK_TOLERANCE = 0.08  # largest display-value difference between the render here and at the re-anchored place

def _reanchor(coords: np.ndarray, seen: np.ndarray, key: KeyView, objects: np.ndarray,
              render_look: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lost pixels of an object take the displacement of its traced ones, where the keyframe's render agrees."""
    traced = seen > 0.99
    lost = ~traced
    if not lost.any():
        return coords, seen
    height, width = seen.shape
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    displacement = coords - np.dstack([xs, ys])
    coords, seen = coords.copy(), seen.copy()
    for object_id in np.unique(objects[lost]):
        mine = objects == object_id
        weights = (traced & mine).astype(np.float32)
        if weights.sum() < MIN_TRACED:
            continue
        filled = _smooth_fill(displacement, weights)
        where = lost & mine
        coords[where] = filled[where] + np.dstack([xs, ys])[where]
    there = cv2.remap(key.look, coords[..., 0], coords[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    looks_alike = np.abs(there - render_look).max(axis=2) <= LOOK_TOLERANCE
    again = lost & looks_alike & (_same_object(coords, key.objects, objects) > 0)
    seen[again] = 1.0
    return coords, seen


def _smooth_fill(values: np.ndarray, weights: np.ndarray, factor: int = 4) -> np.ndarray:
    """:func:`_push_pull` at a quarter of the size: a displacement field is smooth within one object."""
    height, width = weights.shape
    small = (max(1, width // factor), max(1, height // factor))
    filled = _push_pull(cv2.resize(values * weights[..., None], small, interpolation=cv2.INTER_AREA)
                        / np.maximum(cv2.resize(weights, small, interpolation=cv2.INTER_AREA), 1e-12)[..., None],
                        cv2.resize(weights, small, interpolation=cv2.INTER_AREA))
    return cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)


def _push_pull(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fill ``values`` (H, W, C) where ``weights`` is 0 from where it is 1, coarse to fine."""
    levels = [(values * weights[..., None], weights)]
    while min(levels[-1][1].shape) > 2 and (levels[-1][1] <= 0).any():
        summed, weight = levels[-1]
        size = (max(1, summed.shape[1] // 2), max(1, summed.shape[0] // 2))
        levels.append((cv2.resize(summed, size, interpolation=cv2.INTER_AREA), cv2.resize(weight, size, interpolation=cv2.INTER_AREA)))
    summed, weight = levels[-1]
    estimate = summed / np.maximum(weight, 1e-12)[..., None]
    for summed, weight in reversed(levels[:-1]):
        coarse = cv2.resize(estimate, (weight.shape[1], weight.shape[0]), interpolation=cv2.INTER_LINEAR)
        own = summed / np.maximum(weight, 1e-12)[..., None]
        trust = np.clip(weight, 0.0, 1.0)[..., None]
        estimate = own * trust + coarse * (1.0 - trust)
    return estimate
