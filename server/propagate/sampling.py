"""Sampling inside the compiled kernels, as cv2.remap samples, but at exact positions.

Bilinear with the edge pixels repeated beyond the image, or at the nearest pixel;
cv2 rounds positions to 1/32 of a pixel, these do not. :func:`mix` is in lerp
form, so it gives exactly the value where the four samples agree (a trust of 1
stays 1); :func:`corners` gives the four weights once for several channels, which
is faster but may miss such a value by a rounding (for looks, not for trust).
Each helper is inlined into the kernel that calls it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["corners", "mix", "nearest", "place"]


@njit(inline="always", cache=True)
def place(x, y, height, width):  # pragma: no cover (compiled)
    """The bilinear neighbourhood of (x, y), clamped to the image: left, top, right, bottom, and the weights across and
    down."""
    column = min(max(x, np.float32(0.0)), np.float32(width - 1))
    row = min(max(y, np.float32(0.0)), np.float32(height - 1))
    left, top = int(column), int(row)
    return left, top, min(left + 1, width - 1), min(top + 1, height - 1), column - np.float32(left), row - np.float32(top)


@njit(inline="always", cache=True)
def mix(upper_left, upper_right, lower_left, lower_right, across, down):  # pragma: no cover (compiled)
    """Four neighbours mixed bilinearly by the weights :func:`place` gives."""
    upper = upper_left + (upper_right - upper_left) * across
    lower = lower_left + (lower_right - lower_left) * across
    return upper + (lower - upper) * down


@njit(inline="always", cache=True)
def corners(across, down):  # pragma: no cover (compiled)
    """The bilinear weights of the four neighbours :func:`place` gives: upper left, upper right, lower left, lower
    right."""
    left, up = np.float32(1.0) - across, np.float32(1.0) - down
    return left * up, across * up, left * down, across * down


@njit(inline="always", cache=True)
def nearest(image, x, y):  # pragma: no cover (compiled)
    """``image`` at the pixel nearest (x, y), which must lie within it."""
    return image[int(np.floor(y + np.float32(0.5))), int(np.floor(x + np.float32(0.5)))]
