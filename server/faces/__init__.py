"""Faces: swappable landmark providers, tracking, alignment, smoothing, and landmark-driven warps with soft mattes.

Shared by the ``expression`` and ``lipsync`` ops; nothing here imports torch.
"""

from __future__ import annotations

from .align import Similarity, fit_similarity
from .landmarks import Detection, DlibProvider, LandmarkProvider, landmark_provider
from .mask import soft_matte
from .morph import FaceWarp, warp_face
from .smoothing import OneEuroFilter, filter_for_strength
from .tracker import Face, FaceTracker, grey_u8
from .warp import DenseWarp, identity_stmap, thin_plate_warp

__all__ = ["Detection", "DenseWarp", "DlibProvider", "Face", "FaceTracker", "FaceWarp", "LandmarkProvider",
           "OneEuroFilter", "Similarity", "filter_for_strength", "fit_similarity", "grey_u8", "identity_stmap",
           "landmark_provider", "soft_matte", "thin_plate_warp", "warp_face"]
