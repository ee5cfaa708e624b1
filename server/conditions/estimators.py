"""Condition estimators for plates without render passes, loaded from local weights only.

Each estimator is a role in the models config (:mod:`framebridge.server.models`):

- ``estimators.depth``: a transformers depth model folder (DPT, Depth Anything, ...)
  as written by ``save_pretrained``; its relative inverse depth is normalised per
  frame (min..max), since such models give no scale shared between frames.
- ``estimators.normal``: a controlnet-aux annotator folder holding ``scannet.pt``
  (Bae et al.'s normal estimator, whose output is the normalbae colour convention).
- ``estimators.pose``: a controlnet-aux annotator folder holding the OpenPose body,
  hand and face models.

:func:`check_estimator` runs when a job is submitted (no torch import, just files);
:func:`load_estimator` loads once per job. torch, transformers and controlnet_aux
are imported inside these functions only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from framebridge.protocol.errors import ModelError, ModelNotFound

from ..models import ModelsConfig, load_config, resolve

__all__ = ["ESTIMATOR_ROLES", "REQUIRED_FILES", "Estimator", "check_estimator", "load_estimator"]

ESTIMATOR_ROLES = {"depth": "estimators.depth", "normal": "estimators.normal", "pose": "estimators.pose"}
# Per role, groups of files of which one must exist (weights may be safetensors or a torch pickle).
REQUIRED_FILES: dict[str, tuple[tuple[str, ...], ...]] = {
    "estimators.depth": (("config.json",), ("preprocessor_config.json",), ("model.safetensors", "pytorch_model.bin")),
    "estimators.normal": (("scannet.pt",),),
    "estimators.pose": (("body_pose_model.pth",), ("hand_pose_model.pth",), ("facenet.pth",)),
}
_WHERE_TO_GET = {
    "estimators.depth": "a transformers depth model, e.g. `hf download depth-anything/Depth-Anything-V2-Small-hf --local-dir DIR`",
    "estimators.normal": "scannet.pt from the lllyasviel/Annotators repository",
    "estimators.pose": "body_pose_model.pth, hand_pose_model.pth and facenet.pth from the lllyasviel/Annotators repository",
}

Estimator = Callable[[np.ndarray], np.ndarray]


def check_estimator(condition: str, config: ModelsConfig | None = None) -> Path:
    """The folder of the estimator for ``condition``, or :class:`ModelNotFound` naming the missing files."""
    role = ESTIMATOR_ROLES[condition]
    config = config if config is not None else load_config()
    try:
        folder = resolve(role, config)
    except ModelNotFound as error:
        raise ModelNotFound(
            f"the {condition} estimator needs {role}: {error.message}",
            fix=f"{error.fix}; the folder must hold {_WHERE_TO_GET[role]}",
            details={**error.details, "files": [group[0] for group in REQUIRED_FILES[role]]},
        ) from error
    missing = [" or ".join(group) for group in REQUIRED_FILES[role] if not any((folder / name).is_file() for name in group)]
    if missing:
        raise ModelNotFound(
            f"{role}: {folder} lacks {', '.join(missing)}",
            fix=f"put {_WHERE_TO_GET[role]} into {folder}",
            details={"role": role, "path": str(folder), "missing": missing},
        )
    return folder


def load_estimator(condition: str, folder: Path) -> Estimator:
    """A callable from an (H, W, 3) uint8 sRGB image to the condition at the same size.

    Depth gives (H, W) float32 0..1 (near bright); normal and pose give (H, W, 3) uint8.
    """
    try:
        if condition == "depth":
            return _depth_estimator(folder)
        return _annotator(condition, folder)
    except ModelError:
        raise
    except Exception as error:  # weights that exist but do not load (wrong format, truncated)
        raise ModelError(f"could not load the {condition} estimator from {folder}: {error}", details={"path": str(folder)}) from error


def _depth_estimator(folder: Path) -> Estimator:
    import torch
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    model = AutoModelForDepthEstimation.from_pretrained(folder, local_files_only=True).eval()

    def estimate(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        with torch.inference_mode():
            inputs = processor(images=image, return_tensors="pt")
            predicted = model(**inputs).predicted_depth
            resized = torch.nn.functional.interpolate(predicted[:, None].float(), size=(height, width), mode="bicubic", align_corners=False)
        inverse_depth = resized[0, 0].numpy()
        low, high = float(inverse_depth.min()), float(inverse_depth.max())
        if not high > low:
            return np.zeros((height, width), dtype=np.float32)
        return np.clip((inverse_depth - low) / (high - low), 0.0, 1.0).astype(np.float32)

    return estimate


def _annotator(condition: str, folder: Path) -> Estimator:
    import cv2

    if condition == "normal":
        from controlnet_aux import NormalBaeDetector

        detector = NormalBaeDetector.from_pretrained(str(folder))
        options: dict[str, object] = {}
    else:
        from controlnet_aux import OpenposeDetector

        detector = OpenposeDetector.from_pretrained(str(folder))
        options = {"include_body": True, "include_hand": False, "include_face": False}

    def estimate(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        result = np.asarray(detector(image, detect_resolution=512, image_resolution=512, output_type="np", **options))
        return cv2.resize(result, (width, height), interpolation=cv2.INTER_LINEAR)

    return estimate
