"""Edge conditions from the beauty: Canny and standard (difference-of-Gaussians) lineart.

Both work on the display-referred image (the sRGB transfer of the scene-linear
beauty, 8-bit), which is what the ControlNets' own preprocessors saw.
"""

from __future__ import annotations

import numpy as np

from ..colour import linear_to_display

__all__ = ["beauty_to_display8", "canny_condition", "display_grey8", "lineart_condition"]

_LUMINANCE = np.array([[0.2126, 0.7152, 0.0722, 0.0]], dtype=np.float32)
# The sRGB curve sampled at every 16-bit code: within one 8-bit level, 64 KiB, far cheaper than pow per pixel.
_SRGB_TABLE = np.round(linear_to_display(np.linspace(0.0, 1.0, 65536, dtype=np.float32)) * 255.0).astype(np.uint8)


def _encode(linear: np.ndarray) -> np.ndarray:
    """uint8 sRGB codes of a contiguous float32 array (values clipped to 0..1)."""
    import cv2

    # Saturating conversion to 16 bits clips to 0..1 on the way; one channel so the scalar applies to all values.
    codes = cv2.multiply(linear.reshape(linear.shape[0], -1), 65535.0, dtype=cv2.CV_16U)
    return _SRGB_TABLE[codes].reshape(linear.shape)


def beauty_to_display8(beauty: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sRGB from a scene-linear (H, W, 3|4) beauty (alpha dropped); uint8 passes through."""
    import cv2

    if beauty.dtype == np.uint8:
        return np.ascontiguousarray(beauty[..., :3])
    rgb = np.ascontiguousarray(beauty, dtype=np.float32)
    if rgb.shape[-1] == 4:
        rgb = cv2.cvtColor(rgb, cv2.COLOR_RGBA2RGB)
    return _encode(rgb)


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
    return _encode(luminance)


def canny_condition(beauty: np.ndarray, low: float = 100.0, high: float = 200.0) -> np.ndarray:
    """(H, W) uint8 edges (0 or 255) of the beauty with OpenCV's Canny and the given hysteresis thresholds."""
    import cv2

    return cv2.Canny(display_grey8(beauty), low, high)


def lineart_condition(beauty: np.ndarray, sigma: float = 6.0, floor: int = 8) -> np.ndarray:
    """(H, W) uint8 lines, white on black, where the image is darker than its Gaussian surround.

    The darkening (smallest over R, G, B, in 8-bit levels) is scaled by its median
    over pixels darker by more than ``floor`` levels, so line strength does not
    depend on the plate's exposure.
    """
    import cv2

    image = beauty_to_display8(beauty)
    height, width = image.shape[:2]
    # A surround this wide is smooth: blur at half size (a quarter of the work) and scale back.
    half = cv2.resize(image, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_AREA)
    surround = cv2.resize(cv2.GaussianBlur(half, (0, 0), sigma / 2), (width, height), interpolation=cv2.INTER_LINEAR)
    red, green, blue = cv2.split(cv2.subtract(surround, image))
    darkening = cv2.min(cv2.min(red, green), blue)
    # The median of the darker-than-floor levels, from a histogram rather than a sort.
    counts = np.bincount(darkening.reshape(-1), minlength=256)[floor + 1 :]
    median = floor + 1 + int(np.searchsorted(np.cumsum(counts), counts.sum() / 2)) if counts.sum() else 0
    scale = max(16, median)
    return cv2.convertScaleAbs(darkening, alpha=127.0 / scale)
