"""Soft face mattes: the face's outline (landmarks plus a forehead), grown and feathered.

The matte is exactly 0 beyond ``outline + 2 * feather`` pixels, so a composite
through it leaves everything outside bit-identical to its input.
"""

from __future__ import annotations

import cv2
import numpy as np

from .align import fit_similarity
from .regions import BROWS, STABLE

__all__ = ["face_size", "forehead", "outline", "rigid_forehead", "ring", "soft_matte"]


def face_size(landmarks: np.ndarray) -> float:
    """The larger side of the landmarks' bounding box, in pixels."""
    span = landmarks.max(0) - landmarks.min(0)
    return float(max(span.max(), 1.0))


def forehead(landmarks: np.ndarray) -> np.ndarray:
    """(10, 2) points above the brows, up the face's own axis by 0.45 of the brow-to-chin distance."""
    up = landmarks[27] - landmarks[8]
    return (landmarks[list(BROWS)] + 0.45 * up).astype(np.float32)


def rigid_forehead(landmarks: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """The forehead of ``landmarks`` carried by the rigid motion of the face to ``moved`` (brows may rise, the skull does not)."""
    return fit_similarity(landmarks[list(STABLE)], moved[list(STABLE)]).apply(forehead(landmarks))


def outline(points: np.ndarray) -> np.ndarray:
    """The convex hull of ``points`` as (N, 2) float32."""
    return cv2.convexHull(np.asarray(points, np.float32)).reshape(-1, 2)


def ring(hull: np.ndarray, distance: float, count: int = 40) -> np.ndarray:
    """``count`` points evenly spaced along the hull pushed ``distance`` pixels outward from its centre."""
    centre = hull.mean(0)
    offsets = hull - centre
    lengths = np.maximum(np.linalg.norm(offsets, axis=1, keepdims=True), 1e-6)
    grown = np.vstack([centre + offsets * (1.0 + distance / lengths), centre + offsets[:1] * (1.0 + distance / lengths[:1])])
    steps = np.linalg.norm(np.diff(grown, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    samples = np.linspace(0.0, along[-1], count, endpoint=False)
    return np.stack([np.interp(samples, along, grown[:, 0]), np.interp(samples, along, grown[:, 1])], -1).astype(np.float32)


def soft_matte(hull: np.ndarray, shape: tuple[int, int], feather: float,
               roi: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """(H, W) float32 matte: 1 inside the hull grown by ``feather`` pixels, falling to exactly 0 ``feather`` further out.

    Only ``roi`` (x0, y0, x1, y1) is drawn and blurred; it must hold the hull plus ``2 * feather``.
    """
    height, width = shape
    x0, y0, x1, y1 = roi if roi is not None else (0, 0, width, height)
    matte = np.zeros((height, width), np.float32)
    if x1 <= x0 or y1 <= y0:
        return matte
    radius = max(1, int(round(feather)))
    local = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(local, np.rint(hull - (x0, y0)).astype(np.int32), 255)
    local = cv2.dilate(local, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    # A box-shaped kernel of finite width keeps the matte exactly 0 past the feather; the blur is separable.
    soft = cv2.GaussianBlur(local.astype(np.float32) / 255.0, (2 * radius + 1, 2 * radius + 1), radius / 2.0,
                            borderType=cv2.BORDER_CONSTANT)
    # Snap the blur's rounding: the core is exactly 1 and the outside exactly 0.
    soft[soft < 1.0 / 512.0] = 0.0
    soft[soft > 1.0 - 1.0 / 512.0] = 1.0
    matte[y0:y1, x0:x1] = np.clip(soft, 0.0, 1.0)
    return matte
