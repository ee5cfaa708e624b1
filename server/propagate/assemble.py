"""A propagated frame put together in one pass over its pixels: the keyframes' looks blended, trust and confidence.

Each side (a keyframe's chain) brings its look sampled at full size and its trust
at the working size, which is scaled up here bilinearly (as ``cv2.resize`` does)
pixel by pixel, never stored at full size. Per pixel, with ``seen`` a side's
trust there:

- coverage: the sides' ``seen`` summed, at most 1; a hole where under 0.999;
- trust: the largest ``seen`` times its side's decay (halving every halflife);
- distance: the span of the last side, in the order given, that sees the pixel
  (over 0.5), -1 if none does;
- look: the sides' looks weighted by ``seen`` times the side's weight,
  ``(w0 a + w1 b) / (w0 + w1 + 1e-5)`` (as ``cv2.blendLinear``).

The kernel holds no Python object and releases the GIL, so the op's threads
assemble frames side by side; its result does not depend on the thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

__all__ = ["Side", "assemble", "HOLE"]

HOLE = 0.999  # coverage under which a pixel is filled by guided synthesis
BLEND_EPSILON = 1e-5


@dataclass(frozen=True)
class Side:
    """One keyframe's contribution: its look at full size, its trust at the working size, the frames between it and
    this frame (``span``), its weight in the blend and the decay of its trust."""

    look: np.ndarray
    trust: np.ndarray
    span: float
    weight: float
    decay: float


def assemble(render: np.ndarray, sides: list[Side]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The frame's beauty (the blended look, with ``render``'s alpha if it has one), its confidence (trust, distance,
    1 - coverage) and its hole mask, each in memory of its own."""
    height, width, channels = render.shape
    beauty = np.empty((height, width, channels), np.float32)
    confidence = np.empty((height, width, 3), np.float32)
    holes = np.empty((height, width), np.bool_)
    small = sides[0].trust.shape if sides else (height, width)
    rows, row_weights = _axis(height, small[0])
    columns, column_weights = _axis(width, small[1])
    empty_look, empty_trust = np.zeros((1, 1, 3), np.float32), np.zeros(small, np.float32)
    padded = sides + [Side(empty_look, empty_trust, 0.0, 0.0, 0.0)] * (2 - len(sides))
    numbers = np.array([[side.span, side.weight, side.decay] for side in padded], np.float32)
    _assemble(len(sides), padded[0].look, np.ascontiguousarray(padded[0].trust), padded[1].look,
              np.ascontiguousarray(padded[1].trust), numbers, rows, row_weights, columns, column_weights, render,
              beauty, confidence, holes)
    return beauty, confidence, holes


@lru_cache(maxsize=8)
def _axis(size: int, small: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``size`` positions, its two neighbours at ``small`` and the second one's weight, as cv2.resize's
    bilinear scaling (pixel centres aligned, clamped at the edges). Read-only."""
    source = (np.arange(size, dtype=np.float64) + 0.5) * (small / size) - 0.5
    low = np.floor(source)
    weight = (source - low).astype(np.float32)
    low = low.astype(np.int64)
    neighbours = np.stack([low, low + 1], axis=1)
    weight[low < 0] = 0.0
    weight[low >= small - 1] = 0.0
    np.clip(neighbours, 0, small - 1, out=neighbours)
    for array in (neighbours, weight):
        array.flags.writeable = False
    return neighbours, weight


@njit(nogil=True, cache=True, fastmath=True)
def _assemble(sides, look0, trust0, look1, trust1, numbers, rows, row_weights, columns, column_weights, render,
              beauty, confidence, holes):  # pragma: no cover (compiled)
    height, width, channels = beauty.shape
    small_width = trust0.shape[1]
    line0, line1 = np.zeros(small_width, np.float32), np.zeros(small_width, np.float32)
    seen0, seen1 = np.zeros(width, np.float32), np.zeros(width, np.float32)
    lefts, rights, across = columns[:, 0], columns[:, 1], column_weights
    span0, weight0, decay0 = numbers[0, 0], numbers[0, 1], numbers[0, 2]
    span1, weight1, decay1 = numbers[1, 0], numbers[1, 1], numbers[1, 2]
    one, none, epsilon = np.float32(1.0), np.float32(-1.0), np.float32(BLEND_EPSILON)
    for y in range(height):
        # Each side's trust on this row: the two working-size rows around it mixed, then each pixel between two columns.
        top, bottom, down = rows[y, 0], rows[y, 1], row_weights[y]
        for x in range(small_width):
            line0[x] = trust0[top, x] + (trust0[bottom, x] - trust0[top, x]) * down  # exact where both are the same
            line1[x] = trust1[top, x] + (trust1[bottom, x] - trust1[top, x]) * down
        for x in range(width):
            seen0[x] = line0[lefts[x]] + (line0[rights[x]] - line0[lefts[x]]) * across[x]
            seen1[x] = line1[lefts[x]] + (line1[rights[x]] - line1[lefts[x]]) * across[x]
        out, trusted, light = beauty[y], confidence[y], look0[y]
        if sides == 2:
            dark = look1[y]
            for x in range(width):
                first, second = seen0[x] * weight0, seen1[x] * weight1
                scale = one / (first + second + epsilon)
                out[x, 0] = (first * light[x, 0] + second * dark[x, 0]) * scale
                out[x, 1] = (first * light[x, 1] + second * dark[x, 1]) * scale
                out[x, 2] = (first * light[x, 2] + second * dark[x, 2]) * scale
                coverage = min(seen0[x] + seen1[x], one)
                trusted[x, 0] = max(seen0[x] * decay0, seen1[x] * decay1)
                trusted[x, 1] = span1 if seen1[x] > 0.5 else (span0 if seen0[x] > 0.5 else none)
                trusted[x, 2] = one - coverage
                holes[y, x] = coverage < HOLE
        elif sides == 1:
            for x in range(width):
                out[x, 0], out[x, 1], out[x, 2] = light[x, 0], light[x, 1], light[x, 2]
                coverage = min(seen0[x], one)
                trusted[x, 0] = seen0[x] * decay0
                trusted[x, 1] = span0 if seen0[x] > 0.5 else none
                trusted[x, 2] = one - coverage
                holes[y, x] = coverage < HOLE
        else:
            for x in range(width):
                out[x, 0], out[x, 1], out[x, 2] = 0.0, 0.0, 0.0
                trusted[x, 0], trusted[x, 1], trusted[x, 2] = 0.0, none, one
                holes[y, x] = True
        if channels == 4:
            alpha = render[y]
            for x in range(width):
                out[x, 3] = alpha[x, 3]
