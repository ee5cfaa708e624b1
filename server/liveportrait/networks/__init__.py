"""LivePortrait's networks in torch, laid out key for key like the official checkpoints.

Importing this package imports torch: only the backend and the checkpoint loader do,
lazily, when a job needs the model.
"""

from __future__ import annotations

from ..architecture import Architecture
from .appearance import AppearanceFeatureExtractor
from .generator import SpadeGenerator
from .motion import MotionExtractor
from .stitching import KeypointMlp
from .warping import WarpingNetwork

__all__ = ["AppearanceFeatureExtractor", "KeypointMlp", "MotionExtractor", "SpadeGenerator", "WarpingNetwork", "build_networks"]


def build_networks(architecture: Architecture) -> dict:
    """Fresh (randomly initialised) networks by checkpoint name; the stitching entry maps sub-key -> MLP."""
    shape = architecture.stitching
    return {
        "appearance_feature_extractor": AppearanceFeatureExtractor(architecture.appearance),
        "motion_extractor": MotionExtractor(architecture.motion),
        "warping_module": WarpingNetwork(architecture.warping),
        "spade_generator": SpadeGenerator(architecture.generator),
        "stitching_retargeting_module": {
            "retarget_shoulder": KeypointMlp(shape.stitching),
            "retarget_mouth": KeypointMlp(shape.lip),
            "retarget_eye": KeypointMlp(shape.eye),
        },
    }
