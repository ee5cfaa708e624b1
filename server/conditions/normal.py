"""Normal condition: world-space normals to the camera-space colours normal ControlNets were trained on.

``control_v11p_sd15_normalbae`` learned from Bae et al.'s estimator, whose maps
follow the ScanNet protocol, as in Bae's DSINE: (X, Y, Z) = (right, down, into
the scene), normals pointing out of the surface towards the viewer stored negated,
and ``rgb = (n + 1) / 2``. In camera terms: red grows for surfaces facing LEFT,
green for surfaces facing UP, blue for surfaces facing the CAMERA. A wall facing
the camera is (0.5, 0.5, 1.0), the usual lavender.

With Blender's camera axes (x right, y up, z towards the viewer, the columns of
the world-from-camera matrix) and a camera-space normal ``(x, y, z)``:
``rgb = ((1 - x) / 2, (1 + y) / 2, (1 + z) / 2)``. Pixels without a normal
(length ~0, e.g. Blender's background) get the facing-the-camera colour.
"""

from __future__ import annotations

import numpy as np

from framebridge.protocol.errors import InvalidParams

__all__ = ["camera_rotation", "normal_condition"]


def camera_rotation(camera_matrix: np.ndarray) -> np.ndarray:
    """The orthonormal world-from-camera rotation of a 4x4 matrix (scale removed)."""
    matrix = np.asarray(camera_matrix, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise InvalidParams(f"camera_matrix must be a finite 4x4 world-from-camera matrix, got shape {matrix.shape}")
    rotation = matrix[:3, :3]
    lengths = np.linalg.norm(rotation, axis=0)
    if np.any(lengths < 1e-12):
        raise InvalidParams("camera_matrix has a zero-length axis")
    return rotation / lengths


def normal_condition(normal: np.ndarray, camera_matrix: np.ndarray | None, dtype: str = "float32") -> np.ndarray:
    """(H, W, 3) normalbae colours from (H, W, 3) world normals and the frame's world-from-camera matrix.

    ``camera_matrix=None`` means the normals are already in camera space (Blender
    camera axes). ``dtype`` is ``"float32"`` (0..1) or ``"uint8"``. Normals are
    expected unit length, as renderers write them; they are not renormalised.
    """
    import cv2

    rotation = np.eye(3) if camera_matrix is None else camera_rotation(camera_matrix)
    # One affine map per pixel: colour = D R^T n + 1/2, with D = diag(-1/2, 1/2, 1/2) flipping x.
    encode = np.diag([-0.5, 0.5, 0.5]) @ rotation.T
    scale = 255.0 if dtype == "uint8" else 1.0
    affine = np.hstack([encode * scale, np.full((3, 1), 0.5 * scale)]).astype(np.float32)
    colours = cv2.transform(np.ascontiguousarray(normal, dtype=np.float32), affine)
    if dtype == "uint8":
        # Saturating rounding (as one channel, so the scale applies to every value): off-unit normals clip, never mirror.
        image = cv2.multiply(colours.reshape(colours.shape[0], -1), 1.0, dtype=cv2.CV_8U).reshape(colours.shape)
        # A zero normal encodes as mid-grey, which no unit normal can: make it face the camera.
        background = cv2.inRange(image, (128, 128, 128), (128, 128, 128))
        return cv2.add(image, (0, 0, 127, 0), dst=image, mask=background)
    np.clip(colours, 0.0, 1.0, out=colours)
    background = cv2.inRange(normal.astype(np.float32, copy=False), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)) > 0
    colours[background] = (0.5, 0.5, 1.0)
    return colours
