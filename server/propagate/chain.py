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
from functools import lru_cache

import cv2
import numpy as np

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
    """Per pixel of frame ``frame``: its position in keyframe ``key`` and how far that can be trusted.

    ``seen`` (0..1) is the geometric trust; ``difference`` how far the render here looks from
    the keyframe's render at the place the pixel came from (largest channel difference, guide
    encoding), measured once per step for both re-anchoring and :func:`trust`.
    """

    key: int
    frame: int
    coords: np.ndarray      # (H, W, 2) float32 x, y in keyframe pixels
    seen: np.ndarray        # (H, W) float32
    difference: np.ndarray  # (H, W) float32


def start_chain(key: int, height: int, width: int) -> Chain:
    """The chain of a keyframe in its own frame: every pixel where it is, fully trusted."""
    return Chain(key, key, _grid(height, width).copy(), np.ones((height, width), np.float32),
                 np.zeros((height, width), np.float32))


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
    height, width = chain.seen.shape
    grid = _grid(height, width)
    where = cv2.add(grid, np.asarray(motion, dtype=np.float32))  # each pixel's place in the chain's frame
    # One remap of everything sampled bilinearly there (the same as one remap each, in a fraction of the time).
    carried = [chain.coords, chain.seen] + ([] if back_motion is None else [np.asarray(back_motion, dtype=np.float32)])
    sampled = _sample(cv2.merge(carried), where)
    coords, seen = np.empty((height, width, 2), np.float32), np.empty((height, width), np.float32)
    forward = None if back_motion is None else np.empty((height, width, 2), np.float32)
    channels = [index for channel in range(sampled.shape[2]) for index in (channel, channel)]
    cv2.mixChannels([sampled], [coords, seen] + ([] if forward is None else [forward]), channels)
    seen *= _consistent(where, motion, forward, guides.depth, from_guides.depth, depth_tolerance)
    reanchoring = key.objects is not None and guides.object_index is not None
    if reanchoring:
        seen *= _same_object(coords, key.objects, guides.object_index)
        lost = np.flatnonzero(seen <= 0.99)
        _reanchor(coords, lost, guides.object_index, grid)
    difference = _largest_difference(_sample(key.look, coords), render_look)
    alike = lost[difference.reshape(-1)[lost] <= LOOK_TOLERANCE] if reanchoring else []
    if len(alike):
        # A lost pixel is trusted again where the keyframe's render shows the same object there, looking the same.
        points = coords.reshape(-1, 1, 2)[alike]
        same = _sample_points(key.objects, points, cv2.INTER_NEAREST, -1.0) == guides.object_index.reshape(-1)[alike]
        seen.reshape(-1)[alike[same & _inside(points, (height, width)).reshape(-1)]] = 1.0
    return Chain(chain.key, frame, coords, seen, difference)


LIKENESS = (0.03, 0.10)  # guide-colour difference up to which the keyframe's look is fully trusted, and from which not at all


def trust(chain: Chain) -> np.ndarray:
    """The chain's trust in the keyframe's look for this frame: geometric trust, faded where the render changed.

    Render motion knows nothing of moving shadows, highlights or lighting: where the
    render here no longer looks as it did at the keyframe's place, the keyframe's
    look does not apply as painted. Evaluated afresh each frame, never carried, so a
    pixel a shadow passed over is trusted again once it has passed.
    """
    low, high = LIKENESS
    faded = np.subtract(high, chain.difference)
    faded /= high - low
    np.clip(faded, 0.0, 1.0, out=faded)
    faded *= chain.seen
    return faded


@lru_cache(maxsize=4)
def _grid(height: int, width: int) -> np.ndarray:
    """Every pixel's own (x, y), read-only."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid = np.dstack([xs, ys])
    grid.flags.writeable = False
    return grid


def _sample(image: np.ndarray, where: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    return cv2.remap(np.ascontiguousarray(image), where, None, interpolation, borderMode=cv2.BORDER_REPLICATE)


def _inside(where: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """True where the x, y ``where`` fall in an image of ``size`` (its own height and width if None)."""
    height, width = size or where.shape[:2]
    return cv2.inRange(where, (0.0, 0.0), (width - 1.0, height - 1.0)) > 0


def _consistent(where: np.ndarray, motion: np.ndarray, forward: np.ndarray | None, depth: np.ndarray | None,
                previous_depth: np.ndarray | None, depth_tolerance: float) -> np.ndarray:
    """True where the pixel came from inside the chain's frame, the motion agrees both ways and the depth matches.

    ``forward`` is the chain frame's motion towards this frame, sampled at ``where`` (or None). The two-way test of
    Rerender-A-Video / FRESCO (as :mod:`..restyle.temporal`): ``|b + f(p + b)|^2 <= 0.01 (|b|^2 + |f(p + b)|^2) +
    0.5``; depth within ``depth_tolerance``, relative.
    """
    valid = _inside(where)
    if forward is not None:
        backward = np.asarray(motion, dtype=np.float32)
        round_trip = cv2.add(backward, forward)
        round_trip = _summed(cv2.multiply(round_trip, round_trip, dst=round_trip))
        energy = cv2.multiply(backward, backward)
        energy = _summed(cv2.add(energy, cv2.multiply(forward, forward, dst=forward), dst=energy))
        valid &= round_trip <= 0.01 * energy + 0.5
    if depth is not None and previous_depth is not None:
        change = cv2.absdiff(_sample(previous_depth, where, cv2.INTER_NEAREST), depth)
        limit = np.abs(depth)
        np.maximum(limit, 1e-6, out=limit)
        limit *= depth_tolerance
        valid &= change <= limit
    return valid


def _summed(pairs: np.ndarray) -> np.ndarray:
    """The two channels of an (H, W, 2) field added."""
    return np.add(pairs[..., 0], pairs[..., 1])


def _largest_difference(look: np.ndarray, other: np.ndarray) -> np.ndarray:
    difference = cv2.absdiff(look, other)
    largest = np.maximum(difference[..., 0], difference[..., 1])
    return np.maximum(largest, difference[..., 2], out=largest)


def _same_object(coords: np.ndarray, key_objects: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """True where the keyframe shows this pixel's object at the place the pixel takes its look from (ids are exact)."""
    origin = cv2.remap(key_objects, coords, None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=-1.0)
    return (origin == objects) & _inside(coords)


MIN_TRACED = 16  # traced pixels an object needs before its displacement is carried into its lost ones


LOOK_TOLERANCE = 0.08  # largest display-value difference between the render here and at the re-anchored place


def _reanchor(coords: np.ndarray, lost: np.ndarray, objects: np.ndarray, grid: np.ndarray) -> None:
    """The ``lost`` pixels (flat indices) of an object take the displacement of its traced ones (``coords`` changed in
    place)."""
    if not len(lost):
        return
    lost_ids = objects.reshape(-1)[lost]
    traced = np.ones(objects.shape, np.uint8)
    traced.reshape(-1)[lost] = 0
    displacement = cv2.subtract(coords, grid)
    flat_coords = coords.reshape(-1, 2)
    while len(lost):  # one object at a time (a few per frame)
        object_id = lost_ids[0]
        mine = lost_ids == object_id
        pixels, lost, lost_ids = lost[mine], lost[~mine], lost_ids[~mine]
        weights = cv2.bitwise_and(traced, cv2.compare(objects, float(object_id), cv2.CMP_EQ))  # 1 where traced and its own
        if cv2.countNonZero(weights) >= MIN_TRACED:
            flat_coords[pixels] = _smooth_fill(displacement, weights, pixels)


def _smooth_fill(values: np.ndarray, weights: np.ndarray, pixels: np.ndarray, factor: int = 4) -> np.ndarray:
    """:func:`_push_pull` of the displacements ``values`` where ``weights`` (0 or 1, uint8) is set, at a quarter of
    the size (a displacement field is smooth within one object), read at the flat ``pixels``: their new positions.

    The quarter-size result is sampled bilinearly at ``pixels`` as cv2.resize back to full size would.
    """
    height, width = weights.shape
    small = (max(1, width // factor), max(1, height // factor))
    if height % factor or width % factor:
        small_weights = cv2.resize(weights.astype(np.float32), small, interpolation=cv2.INTER_AREA)
        small_values = cv2.resize(cv2.copyTo(values, weights), small, interpolation=cv2.INTER_AREA)
    else:
        # Whole blocks of factor x factor: only the blocks around the weighted pixels are averaged, the rest is 0.
        x, y, box_width, box_height = cv2.boundingRect(weights)
        top, bottom = y // factor, -(-(y + box_height) // factor)
        left, right = x // factor, -(-(x + box_width) // factor)
        block = (slice(top * factor, bottom * factor), slice(left * factor, right * factor))
        small_weights = np.zeros((small[1], small[0]), np.float32)
        small_values = np.zeros((small[1], small[0], 2), np.float32)
        small_weights[top:bottom, left:right] = cv2.resize(weights[block].astype(np.float32), (right - left, bottom - top),
                                                           interpolation=cv2.INTER_AREA)
        # Weights are 0 or 1: values times weights is the values where set, 0 elsewhere.
        small_values[top:bottom, left:right] = cv2.resize(cv2.copyTo(values[block], weights[block]), (right - left, bottom - top),
                                                          interpolation=cv2.INTER_AREA)
    small_values /= np.maximum(small_weights, 1e-12)[..., None]
    filled = _push_pull(small_values, small_weights)
    rows, columns = np.divmod(pixels, width)
    where = np.empty((len(pixels), 2), np.float32)
    where[:, 0] = (columns + 0.5) * (small[0] / width) - 0.5
    where[:, 1] = (rows + 0.5) * (small[1] / height) - 0.5
    moved = _sample_points(filled, where, cv2.INTER_LINEAR)
    moved[:, 0] += columns
    moved[:, 1] += rows
    return moved


_ROW = 1024  # cv2.remap takes maps of at most 32767 rows and columns: point lists are laid out in rows of _ROW


def _sample_points(image: np.ndarray, points: np.ndarray, interpolation: int, outside: float | None = None) -> np.ndarray:
    """``image`` at the (N, 2) x, y ``points``, as cv2.remap would sample it there: (N,) or (N, C). Outside the image:
    ``outside``, or the nearest edge pixel if None."""
    padded = np.zeros((-(-len(points) // _ROW) * _ROW, 2), np.float32)
    padded[:len(points)] = points.reshape(-1, 2)
    border = dict(borderMode=cv2.BORDER_REPLICATE) if outside is None else dict(borderMode=cv2.BORDER_CONSTANT, borderValue=outside)
    sampled = cv2.remap(image, padded.reshape(-1, _ROW, 2), None, interpolation, **border)
    return sampled.reshape((len(padded),) + image.shape[2:])[:len(points)]


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
        estimate = summed / np.maximum(weight, 1e-12)[..., None]
        trust = np.clip(weight, 0.0, 1.0)[..., None]
        estimate *= trust  # own * trust + coarse * (1 - trust), in place
        coarse *= 1.0 - trust
        estimate += coarse
    return estimate
