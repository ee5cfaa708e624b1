"""Temporal consistency: warp the previous restyled frame into the current one.

Motion comes from the render (``motion_backward`` of the current frame: pixels to
where each pixel was in the previous frame, x right, y down) or, when a frame has
none, from OpenCV DIS optical flow between the two beauty images. A pixel is
trusted only if the motion is consistent both ways (Rerender-A-Video / FRESCO's
test ``|b + f(p + b)|^2 > 0.01 (|b|^2 + |f(p + b)|^2) + 0.5`` marks it occluded),
lands inside the previous frame, and, where both frames have depth, sees the same
surface (relative depth change under ``depth_tolerance``). Render motion knows
nothing of moving shadows, reflections or lighting, so a pixel whose input also
changed in appearance (the current frame against the warped previous input) is
faded out too: :func:`appearance_weight`. A filter backend's warped previous output
is also clamped into the current output's local colour range before blending
(:func:`clamp_to_neighbourhood`), so a line or shadow edge that has moved on leaves
no faint ghost where a soft weight let part of it through.

A backend that draws layers (colour and ink lines, :class:`StyleLayers`) is blended
layer by layer (:func:`blend_layers`): its colour as above, its lines by a rule of
their own. Every warp resamples, and a recursive history of resampled lines widens
them a little more each frame; those soft trails beside the current lines, within any
clamp radius, are what read as ghosts on a pan. So the previous frame's lines may
darken a pixel only where the current frame draws a line itself (and no darker than
its darkest neighbour there); anywhere else they can only lighten it, which still
fades out a speck of ink the render noise drew in one frame only.
"""

from __future__ import annotations

import cv2
import numpy as np

from .backend import StyleLayers

__all__ = ["Warp", "warp", "consistency_mask", "appearance_weight", "estimate_flow", "blend", "clamp_to_neighbourhood",
           "blend_layers", "pack_layers", "unpack_layers", "LINE_FOOTPRINT"]


class Warp:
    """Backward motion turned into sampling maps once per frame, for every image warped along it."""

    def __init__(self, backward: np.ndarray):
        self.backward = np.asarray(backward, dtype=np.float32)
        height, width = self.backward.shape[:2]
        xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        self.map_x = xs + self.backward[..., 0]
        self.map_y = ys + self.backward[..., 1]

    def apply(self, image: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """The previous frame's ``image`` moved to the current frame."""
        return cv2.remap(np.ascontiguousarray(image), self.map_x, self.map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)

    def consistency(self, previous_forward: np.ndarray | None, *, depth: np.ndarray | None = None,
                    previous_depth: np.ndarray | None = None, depth_tolerance: float = 0.05) -> np.ndarray:
        """1 where the previous frame's pixel is visible and the same surface, else 0, as float32."""
        height, width = self.backward.shape[:2]
        valid = (self.map_x >= 0) & (self.map_x <= width - 1) & (self.map_y >= 0) & (self.map_y <= height - 1)
        if previous_forward is not None:
            forward = self.apply(np.asarray(previous_forward, dtype=np.float32))
            bx, by, fx, fy = self.backward[..., 0], self.backward[..., 1], forward[..., 0], forward[..., 1]
            round_trip = (bx + fx) ** 2 + (by + fy) ** 2
            valid &= round_trip <= 0.01 * (bx * bx + by * by + fx * fx + fy * fy) + 0.5
        if depth is not None and previous_depth is not None:
            previous_here = self.apply(np.asarray(previous_depth, dtype=np.float32), cv2.INTER_NEAREST)
            valid &= np.abs(previous_here - depth) <= depth_tolerance * np.maximum(np.abs(depth), 1e-6)
        return valid.astype(np.float32)


def warp(image: np.ndarray, backward: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """The previous frame's ``image`` moved to the current frame along ``backward`` motion."""
    return Warp(backward).apply(image, interpolation)


def consistency_mask(backward: np.ndarray, previous_forward: np.ndarray | None, *, depth: np.ndarray | None = None,
                     previous_depth: np.ndarray | None = None, depth_tolerance: float = 0.05) -> np.ndarray:
    """:meth:`Warp.consistency` for a single use."""
    return Warp(backward).consistency(previous_forward, depth=depth, previous_depth=previous_depth,
                                      depth_tolerance=depth_tolerance)


def appearance_weight(current: np.ndarray, warped_previous: np.ndarray, low: float = 0.05, high: float = 0.15) -> np.ndarray:
    """1 where the input looks the same as the warped previous input, 0 where it changed by ``high`` or more.

    The largest channel difference in display values, ramped linearly between ``low`` and ``high``.
    """
    difference = cv2.absdiff(current, warped_previous)
    largest = np.maximum(np.maximum(difference[..., 0], difference[..., 1]), difference[..., 2])
    return np.clip((high - largest) * (1.0 / (high - low)), 0.0, 1.0).astype(np.float32)


def _gray8(display_rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.round(np.clip(display_rgb, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


FLOW_MIN_SIDE = 64  # DIS crashes or fails on thinner images; smaller plates are padded by repeating their edges


def estimate_flow(current_display: np.ndarray, previous_display: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(backward, previous_forward) optical flow with OpenCV DIS, for frames that came without motion vectors."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    height, width = current_display.shape[:2]
    pad_y, pad_x = max(0, FLOW_MIN_SIDE - height), max(0, FLOW_MIN_SIDE - width)
    current, previous = (cv2.copyMakeBorder(_gray8(image), 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
                         for image in (current_display, previous_display))
    backward = dis.calc(current, previous, None)[:height, :width]
    previous_forward = dis.calc(previous, current, None)[:height, :width]
    return np.ascontiguousarray(backward), np.ascontiguousarray(previous_forward)


def blend(current: np.ndarray, warped_previous: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``current`` moved towards ``warped_previous`` by a per-pixel ``weight`` in 0..1."""
    weight = weight[..., None].astype(np.float32)
    return (current + (warped_previous - current) * weight).astype(np.float32)


def clamp_to_neighbourhood(history: np.ndarray, current: np.ndarray, radius: int = 2) -> np.ndarray:
    """``history`` clamped per channel into the min..max of ``current`` over each pixel's (2r+1)^2 neighbourhood.

    The ghost removal of temporal anti-aliasing: a dark ink line or shadow edge that
    the current frame has nowhere near has no support in its neighbourhood and is
    clamped away, while history within the current frame's local range (the colour
    a flickering band would take) passes unchanged.
    """
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    current = np.ascontiguousarray(current, dtype=np.float32)
    low = cv2.erode(current, kernel, borderType=cv2.BORDER_REPLICATE)
    high = cv2.dilate(current, kernel, borderType=cv2.BORDER_REPLICATE)
    return np.clip(np.asarray(history, dtype=np.float32), low, high)


LINE_FOOTPRINT = 0.1  # line coverage from which the current frame counts as drawing a line at a pixel


def blend_layers(current: StyleLayers, warped_previous: StyleLayers, weight: np.ndarray) -> StyleLayers:
    """``current`` moved towards the warped previous layers by ``weight``.

    Colour is clamped into the current colour's neighbourhood (:func:`clamp_to_neighbourhood`); the previous
    lines are capped by the current ones, or by the darkest current line within a pixel where the current
    frame draws a line itself, so no line lands outside the current frame's lines.
    """
    colour = blend(current.colour, clamp_to_neighbourhood(warped_previous.colour, current.colour), weight)
    darkest_near = cv2.dilate(current.lines, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    ceiling = np.where(current.lines > LINE_FOOTPRINT, darkest_near, current.lines)
    lines = np.minimum(warped_previous.lines, ceiling)
    return StyleLayers(colour, current.lines + (lines - current.lines) * weight, current.ink)


def pack_layers(layers: StyleLayers) -> np.ndarray:
    """Colour and lines as one (H, W, 4) image, to be warped and cached as one; the ink colour stays with the frame."""
    return np.dstack([layers.colour, layers.lines]).astype(np.float32)


def unpack_layers(packed: np.ndarray, ink: tuple[float, float, float]) -> StyleLayers:
    packed = np.asarray(packed, dtype=np.float32)
    return StyleLayers(np.ascontiguousarray(packed[..., :3]), np.ascontiguousarray(packed[..., 3]), ink)
