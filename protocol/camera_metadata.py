"""A frame's camera in its EXR header, so files on disk carry what the normal condition needs.

Two spellings are read, one written:

- ``worldToCamera``, OpenEXR's standard M44f attribute (Nuke shows it as
  ``exr/worldToCamera``): row vectors (``p_camera = p_world * M``), camera space
  left-handed with +z the viewing direction. FrameBridge writes this one.
- Blender can only stamp text into its EXRs, so the Blender extension and the demo
  put ``framebridge.camera_matrix=<JSON rows>`` on a line of the stamp ``Note``.

Both become the canonical ``camera_matrix``: 4x4 world-from-camera, column vectors,
in Blender's camera convention (+x right, +y up, looking down -z).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

import numpy as np

__all__ = ["NOTE_PREFIX", "STANDARD_ATTRIBUTE", "camera_from_headers", "camera_note", "standard_attribute"]

STANDARD_ATTRIBUTE = "worldToCamera"
NOTE_ATTRIBUTE = "Note"
NOTE_PREFIX = "framebridge.camera_matrix="
# Blender's camera looks down -z, OpenEXR's camera space down +z.
_FLIP_Z = np.diag([1.0, 1.0, -1.0, 1.0])


def camera_note(matrix: Any) -> str:
    """The stamp note line that carries a world-from-camera matrix (Blender writes notes into EXR headers)."""
    rows = np.asarray(matrix, dtype=np.float64).reshape(4, 4)
    return NOTE_PREFIX + json.dumps([[float(value) for value in row] for row in rows])


def standard_attribute(matrix: Any) -> np.ndarray:
    """OpenEXR's ``worldToCamera`` (float32, row vectors, +z forward) for a world-from-camera matrix."""
    world_from_camera = np.asarray(matrix, dtype=np.float64).reshape(4, 4)
    return np.ascontiguousarray((_FLIP_Z @ np.linalg.inv(world_from_camera)).T, dtype=np.float32)


def camera_from_headers(headers: Iterable[Mapping[str, Any]]) -> np.ndarray | None:
    """The world-from-camera matrix (float32) the headers carry, or None; a malformed value counts as none."""
    for header in headers:
        matrix = _from_standard(header.get(STANDARD_ATTRIBUTE))
        if matrix is None:
            matrix = _from_note(header.get(NOTE_ATTRIBUTE))
        if matrix is not None:
            return matrix
    return None


def _from_standard(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    try:
        world_to_camera = np.asarray(value, dtype=np.float64).reshape(4, 4)
        matrix = np.linalg.inv(_FLIP_Z @ world_to_camera.T)
    except (TypeError, ValueError, np.linalg.LinAlgError):
        return None
    return _finite(matrix)


def _from_note(value: Any) -> np.ndarray | None:
    if not isinstance(value, str):
        return None
    for line in value.splitlines():
        if line.startswith(NOTE_PREFIX):
            try:
                return _finite(np.asarray(json.loads(line[len(NOTE_PREFIX):]), dtype=np.float64).reshape(4, 4))
            except (TypeError, ValueError):
                return None
    return None


def _finite(matrix: np.ndarray) -> np.ndarray | None:
    return matrix.astype(np.float32) if np.isfinite(matrix).all() else None
