"""Scene-linear <-> display conversion for model inputs and outputs.

Renders are scene-linear; image models see display-referred sRGB in 0..1. The
built-in transfer is the piecewise sRGB curve (IEC 61966-2-1) and its exact
inverse; alpha is never touched.
"""

from __future__ import annotations

import numpy as np

__all__ = ["linear_to_display", "display_to_linear"]


def linear_to_display(rgb: np.ndarray) -> np.ndarray:
    """Scene-linear RGB (any float dtype, values clipped to 0..1) to sRGB-encoded float32."""
    linear = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1.0 / 2.4) - 0.055).astype(np.float32)


def display_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in 0..1 back to scene-linear float32 (inverse of :func:`linear_to_display`)."""
    encoded = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    return np.where(encoded <= 0.04045, encoded / 12.92, np.power((encoded + 0.055) / 1.055, 2.4)).astype(np.float32)
