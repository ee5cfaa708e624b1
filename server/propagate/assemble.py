"""A propagated frame put together in one pass over its pixels: the keyframes sampled and blended, trust, confidence.

Each side (a keyframe's chain) brings the keyframe's look at full size and, at the
working size, where each pixel takes its look from (the chain's coordinates) and
how far that is trusted. Both are scaled up here bilinearly (as ``cv2.resize``
does, a row at a time, never stored at full size), and the keyframe is sampled
bilinearly there (as ``cv2.remap`` does, edge pixels repeated, at exact positions).
Per pixel, with ``seen`` a side's trust there:

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

from .sampling import corners, place

__all__ = ["Side", "assemble", "blend_fill", "HOLE"]

HOLE = 0.999  # coverage under which a pixel is filled by guided synthesis
BLEND_EPSILON = 1e-5


@dataclass(frozen=True)
class Side:
    """One keyframe's contribution: its look at full size (linear RGB), where each pixel takes its look from in it
    (``coords``, x, y in keyframe pixels) and how far that is trusted, both at the working size, the frames between it
    and this frame (``span``), its weight in the blend and the decay of its trust."""

    look: np.ndarray
    coords: np.ndarray
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
    nothing = Side(np.zeros((1, 1, 3), np.float32), np.zeros(small + (2,), np.float32), np.zeros(small, np.float32), 0.0, 0.0, 0.0)
    padded = sides + [nothing] * (2 - len(sides))
    numbers = np.array([[side.span, side.weight, side.decay] for side in padded], np.float32)
    # Working to full pixel positions: x * scale + (scale - 1) / 2, applied after the rows are mixed (it is affine).
    scale = np.array([width / small[1], height / small[0]], np.float32)
    looks, coords, trusts = ([np.ascontiguousarray(getattr(side, name), dtype=np.float32) for side in padded]
                             for name in ("look", "coords", "trust"))
    _assemble(len(sides), looks[0], coords[0], trusts[0], looks[1], coords[1], trusts[1], numbers, scale, rows, row_weights,
              columns, column_weights, render, beauty, confidence, holes)
    return beauty, confidence, holes


def blend_fill(beauty: np.ndarray, confidence: np.ndarray, pixels: np.ndarray, filled: np.ndarray) -> None:
    """The guided fill's ``filled`` looks (N, 3) mixed into ``beauty`` at ``pixels`` (flat indices), in place, by what
    the keyframes left uncovered there (the confidence's last channel): ``look * coverage + fill * (1 - coverage)``."""
    _blend_fill(beauty.reshape(-1, beauty.shape[2]), confidence.reshape(-1, 3), pixels, filled)


@njit(nogil=True, cache=True)
def _blend_fill(beauty, confidence, pixels, filled):  # pragma: no cover (compiled)
    for index in range(len(pixels)):
        pixel = pixels[index]
        covered = np.float32(1.0) - confidence[pixel, 2]
        for channel in range(3):
            beauty[pixel, channel] = (beauty[pixel, channel] * covered
                                      + filled[index, channel] * (np.float32(1.0) - covered))


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


@njit(inline="always", cache=True)
def _sample(image, line, left, right, across):  # pragma: no cover (compiled)
    """``image`` (H, W, 3) sampled bilinearly where ``line`` (full-size x, y at the working columns) says, between
    columns ``left`` and ``right``: three values."""
    height, width = image.shape[:2]
    x = line[left, 0] + (line[right, 0] - line[left, 0]) * across
    y = line[left, 1] + (line[right, 1] - line[left, 1]) * across
    column, row, next_column, next_row, across, down = place(x, y, height, width)
    upper, lower = image[row], image[next_row]
    a, b, c, d = corners(across, down)
    return (a * upper[column, 0] + b * upper[next_column, 0] + c * lower[column, 0] + d * lower[next_column, 0],
            a * upper[column, 1] + b * upper[next_column, 1] + c * lower[column, 1] + d * lower[next_column, 1],
            a * upper[column, 2] + b * upper[next_column, 2] + c * lower[column, 2] + d * lower[next_column, 2])


@njit(inline="always", cache=True)
def _rows(coords, trust, top, bottom, down, scale, offset, line, trust_line):  # pragma: no cover (compiled)
    """One output row's working-size ``line`` of full-size positions and ``trust_line``: rows ``top`` and ``bottom``
    mixed by ``down`` (exact where both are the same)."""
    for x in range(trust.shape[1]):
        trust_line[x] = trust[top, x] + (trust[bottom, x] - trust[top, x]) * down
        for axis in range(2):
            value = coords[top, x, axis] + (coords[bottom, x, axis] - coords[top, x, axis]) * down
            line[x, axis] = value * scale[axis] + offset[axis]


@njit(nogil=True, cache=True, fastmath=True)
def _assemble(sides, look0, coords0, trust0, look1, coords1, trust1, numbers, scale, rows, row_weights, columns,
              column_weights, render, beauty, confidence, holes):  # pragma: no cover (compiled)
    height, width, channels = beauty.shape
    small_width = trust0.shape[1]
    line0, line1 = np.zeros((small_width, 2), np.float32), np.zeros((small_width, 2), np.float32)
    trust_line0, trust_line1 = np.zeros(small_width, np.float32), np.zeros(small_width, np.float32)
    offset = (scale - np.float32(1.0)) * np.float32(0.5)
    span0, weight0, decay0 = numbers[0, 0], numbers[0, 1], numbers[0, 2]
    span1, weight1, decay1 = numbers[1, 0], numbers[1, 1], numbers[1, 2]
    one, none, epsilon = np.float32(1.0), np.float32(-1.0), np.float32(BLEND_EPSILON)
    for y in range(height):
        top, bottom, down = rows[y, 0], rows[y, 1], row_weights[y]
        if sides > 0:
            _rows(coords0, trust0, top, bottom, down, scale, offset, line0, trust_line0)
        if sides > 1:
            _rows(coords1, trust1, top, bottom, down, scale, offset, line1, trust_line1)
        out, trusted = beauty[y], confidence[y]
        for x in range(width):
            left, right, across = columns[x, 0], columns[x, 1], column_weights[x]
            red = green = blue = np.float32(0.0)
            coverage, best, distance = np.float32(0.0), np.float32(0.0), none
            if sides > 0:
                seen0 = trust_line0[left] + (trust_line0[right] - trust_line0[left]) * across
                if sides == 1 or seen0 > 0.0:  # between two keyframes a side it weighs nothing lends nothing
                    red, green, blue = _sample(look0, line0, left, right, across)
                coverage, best = seen0, seen0 * decay0
                if seen0 > 0.5:
                    distance = span0
                if sides > 1:
                    seen1 = trust_line1[left] + (trust_line1[right] - trust_line1[left]) * across
                    red1 = green1 = blue1 = np.float32(0.0)
                    if seen1 > 0.0:
                        red1, green1, blue1 = _sample(look1, line1, left, right, across)
                    first, second = seen0 * weight0, seen1 * weight1
                    share = one / (first + second + epsilon)
                    red = (first * red + second * red1) * share
                    green = (first * green + second * green1) * share
                    blue = (first * blue + second * blue1) * share
                    coverage += seen1
                    best = max(best, seen1 * decay1)
                    if seen1 > 0.5:
                        distance = span1
            out[x, 0], out[x, 1], out[x, 2] = red, green, blue
            if channels == 4:
                out[x, 3] = render[y, x, 3]
            coverage = min(coverage, one)
            trusted[x, 0], trusted[x, 1], trusted[x, 2] = best, distance, one - coverage
            holes[y, x] = coverage < HOLE
