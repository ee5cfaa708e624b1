"""Edge conditions from the beauty: Canny and standard (difference-of-Gaussians) lineart.

Both work on the display-referred image (the sRGB transfer of the scene-linear
beauty, 8-bit), which is what the ControlNets' own preprocessors saw.
"""

from __future__ import annotations

import numpy as np

from ..colour import linear_to_display

__all__ = ["beauty_to_display8", "canny_condition", "display_grey8", "lineart_condition"]

_LUMINANCE = np.array([[0.2126, 0.7152, 0.0722, 0.0]], dtype=np.float32)
_SRGB_TABLE = np.round(linear_to_display(np.linspace(0.0, 1.0, 4096, dtype=np.float32)) * 255.0).astype(np.uint8)


def beauty_to_display8(beauty: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sRGB from a scene-linear (H, W, 3|4) beauty (alpha dropped); uint8 passes through."""
    rgb = beauty[..., :3]
    if rgb.dtype == np.uint8:
        return np.ascontiguousarray(rgb)
    # A 4096-entry table of the sRGB curve is exact to 8 bits and much faster than pow per pixel.
    indices = (np.clip(rgb, 0.0, 1.0) * 4095.0 + 0.5).astype(np.uint16)
    return _SRGB_TABLE[indices]


def display_grey8(beauty: np.ndarray) -> np.ndarray:
    """(H, W) uint8 display-referred grey: Rec.709 luminance of the linear beauty, then the sRGB curve.

    Taking luminance before encoding touches a third of the values; edges land
    where they would on the encoded image.
    """
    import cv2

    if beauty.dtype == np.uint8:
        return cv2.cvtColor(np.ascontiguousarray(beauty[..., :3]), cv2.COLOR_RGB2GRAY)
    # The weights have a zero for alpha, so an RGBA beauty needs no copy.
    luminance = cv2.transform(np.ascontiguousarray(beauty, dtype=np.float32), _LUMINANCE[:, : beauty.shape[-1]])
    return _SRGB_TABLE[(np.clip(luminance, 0.0, 1.0) * 4095.0 + 0.5).astype(np.uint16)]


def canny_condition(beauty: np.ndarray, low: float = 100.0, high: float = 200.0) -> np.ndarray:
    """(H, W) uint8 edges (0 or 255) of the beauty with OpenCV's Canny and the given hysteresis thresholds."""
    import cv2

    return cv2.Canny(display_grey8(beauty), low, high)


def lineart_condition(beauty: np.ndarray, sigma: float = 6.0, floor: float = 8.0) -> np.ndarray:
    """(H, W) float32 lines, white on black, where the image is darker than its Gaussian surround.

    The darkening (smallest over R, G, B) is scaled by its median over pixels
    darker by more than ``floor`` 8-bit levels, so line strength does not depend
    on the plate's exposure.
    """
    import cv2

    image = beauty_to_display8(beauty).astype(np.float32)
    surround = cv2.GaussianBlur(image, (0, 0), sigma)
    darkening = np.min(surround - image, axis=2)
    np.clip(darkening, 0.0, 255.0, out=darkening)
    strong = darkening[darkening > floor]
    scale = max(16.0, float(np.median(strong))) if strong.size else 16.0
    lines = darkening * np.float32(0.5 / scale)
    return np.clip(lines, 0.0, 1.0, out=lines)
