"""Segmentation condition: one stable colour per object (or material) id.

The colour of an id depends on the id alone, never on the frame or on which ids
are present, so an object keeps its colour across the shot and across jobs. Ids
are hashed to saturated colours (an ADE20K-like look: distinct flat regions on
black); id 0, Blender's "no index", is black.
"""

from __future__ import annotations

import numpy as np

__all__ = ["segment_colours", "segmentation_condition"]

_LOOKUP_SIZE = 1 << 16


def segment_colours(ids: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 colours for integer ids (a pure function of each id)."""
    hashed = np.asarray(ids, dtype=np.uint32) * np.uint32(0x9E3779B1)
    hashed ^= hashed >> np.uint32(15)
    hashed *= np.uint32(0x85EBCA77)
    hashed ^= hashed >> np.uint32(13)
    colours = hashed.view(np.uint8).reshape(-1, 4)[:, :3].copy()
    # Keep every channel off zero so no object is near-black like the background.
    colours = np.maximum(colours, 40)
    colours[np.asarray(ids).reshape(-1) == 0] = 0
    return colours


_LOOKUP = segment_colours(np.arange(_LOOKUP_SIZE))
_LOOKUP_8BIT = np.ascontiguousarray(_LOOKUP[:256].reshape(256, 1, 3))


def segmentation_condition(index: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colours for an (H, W) id buffer (ids stored as floats, rounded)."""
    import cv2

    ids = np.rint(index)
    low, high, _, _ = cv2.minMaxLoc(ids.astype(np.float32, copy=False)) if ids.size else (0.0, 0.0, None, None)
    if 0 <= low and high < 256:
        small = ids.astype(np.uint8)
        return cv2.LUT(cv2.merge([small, small, small]), _LOOKUP_8BIT)
    if 0 <= low and high < _LOOKUP_SIZE:
        return np.take(_LOOKUP, ids.astype(np.int32), axis=0)
    # Wide ids (cryptomatte hashes): colour each distinct id once.
    unique, inverse = np.unique(ids.astype(np.int64).reshape(-1), return_inverse=True)
    return segment_colours(unique.astype(np.uint32))[inverse].reshape(*ids.shape, 3)
