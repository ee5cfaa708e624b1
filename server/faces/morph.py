"""Moving a face by its landmarks: displacements in, a dense backward warp and a soft matte out.

Used by the expression op (a driver's motion on a target face) and by lip-sync
(a mouth moved toward a shape). Every landmark is a control point, so points the
caller leaves in place stay in place; the forehead follows the head rigidly; a
ring of still points where the matte ends makes the warp fade out with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mask import face_size, forehead, outline, rigid_forehead, ring, soft_matte
from .warp import DenseWarp, thin_plate_warp

__all__ = ["FaceWarp", "warp_face"]


@dataclass(frozen=True)
class FaceWarp:
    """A face's warp and its matte over an image of ``warp.shape``."""

    warp: DenseWarp
    matte: np.ndarray  # (H, W) float32 0..1, exactly 0 where the image must stay untouched

    def composite(self, image: np.ndarray) -> np.ndarray:
        """The warped face over ``image`` through the matte; pixels where the matte is 0 are the input's own."""
        x0, y0, x1, y1 = self.warp.roi
        output = image.copy()
        if x1 <= x0 or y1 <= y0:
            return output
        region = image[y0:y1, x0:x1]
        warped = self.warp.sample(image)
        matte = self.matte[y0:y1, x0:x1]
        weight = matte.reshape(matte.shape + (1,) * (region.ndim - 2)).astype(np.float32)
        blended = region + (warped.astype(np.float32) - region) * weight
        output[y0:y1, x0:x1] = np.where(weight > 0, blended.astype(image.dtype), region)
        return output


def warp_face(landmarks: np.ndarray, moved: np.ndarray, shape: tuple[int, int], *, feather: float = 0.1,
              grid_step: int = 8) -> FaceWarp:
    """The warp that carries a face's 68 ``landmarks`` to ``moved`` in an image of ``shape`` (H, W).

    ``feather`` is the matte's soft edge as a fraction of the face size.
    """
    landmarks = np.asarray(landmarks, np.float32)
    moved = np.asarray(moved, np.float32)
    feather_pixels = max(1.0, feather * face_size(landmarks))
    source = np.vstack([landmarks, forehead(landmarks)])
    target = np.vstack([moved, rigid_forehead(landmarks, moved)])
    hull = outline(np.vstack([source, target]))
    still = ring(hull, 2.0 * feather_pixels + 2.0)
    height, width = shape
    low, high = np.floor(still.min(0)) - 1, np.ceil(still.max(0)) + 2
    roi = (int(max(0, low[0])), int(max(0, low[1])), int(min(width, high[0])), int(min(height, high[1])))
    warp = thin_plate_warp(np.vstack([source, still]), np.vstack([target, still]), shape, roi, grid_step)
    return FaceWarp(warp, soft_matte(hull, shape, feather_pixels, warp.roi))
