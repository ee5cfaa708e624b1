"""One frame's keypoints: source, driver and reference motions to the driven keypoints the warp uses.

LivePortrait's Algorithm 1 in numpy, with the networks it consults passed in as callables
(so this module is torch-free and tested with hand-made functions):

1. drive the source by the driver in the chosen regions (:func:`keypoints.drive`);
2. optionally replace the eyes' and lips' motion by the retargeting MLPs, fed the open
   ratios of the driver's eyes and lips (relative to the reference when driving relatively);
3. stitch (S corrects the driven keypoints so the crop's border stays put for paste-back);
4. apply the multipliers, head and face shares apart (:func:`keypoints.apply_multipliers`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping

import numpy as np

from .keypoints import (
    EYE_KEYPOINTS,
    LIP_KEYPOINTS,
    FaceMotion,
    apply_multipliers,
    apply_stitching,
    drive,
    eye_open_ratios,
    eye_retarget_input,
    keypoint_multipliers,
    lip_open_ratio,
    lip_retarget_input,
    stitching_input,
    transform,
)

__all__ = ["FaceLandmarks", "Networks", "driven_keypoints", "wanted_ratio"]

Mlp = Callable[[np.ndarray], np.ndarray]
RETARGETABLE = frozenset({"eyes", "lips"})
_REGION_KEYPOINTS = {"eyes": EYE_KEYPOINTS, "lips": LIP_KEYPOINTS}


@dataclass(frozen=True)
class FaceLandmarks:
    """The 68 landmarks of the source, the driver and the reference, for the open ratios retargeting reads."""

    source: np.ndarray
    driving: np.ndarray
    reference: np.ndarray


@dataclass(frozen=True)
class Networks:
    """The MLPs the keypoint step consults: S (65 outputs) and R_eye / R_lip (21x3 offsets); None skips a step."""

    stitching: Mlp | None = None
    eyes: Mlp | None = None
    lips: Mlp | None = None


def wanted_ratio(source: float, driving: float, reference: float, relative: bool) -> float:
    """The open ratio the source should show: the driver's, or the source's scaled by the driver's change."""
    if not relative:
        return driving
    return source * driving / max(reference, 1e-6)


def _retargeting(
    x_source: np.ndarray, landmarks: FaceLandmarks, retarget: frozenset[str], relative: bool, networks: Networks
) -> np.ndarray:
    """The eye and lip keypoint offsets (21, 3) from the retargeting MLPs."""
    offsets = np.zeros_like(x_source)
    if "eyes" in retarget and networks.eyes is not None:
        source_eyes = eye_open_ratios(landmarks.source)
        wanted = wanted_ratio(
            float(np.mean(source_eyes)), float(np.mean(eye_open_ratios(landmarks.driving))),
            float(np.mean(eye_open_ratios(landmarks.reference))), relative,
        )
        offsets += networks.eyes(eye_retarget_input(x_source, source_eyes, wanted)).reshape(-1, 3)
    if "lips" in retarget and networks.lips is not None:
        source_lips = lip_open_ratio(landmarks.source)
        wanted = wanted_ratio(source_lips, lip_open_ratio(landmarks.driving), lip_open_ratio(landmarks.reference), relative)
        offsets += networks.lips(lip_retarget_input(x_source, source_lips, wanted)).reshape(-1, 3)
    return offsets


def driven_keypoints(
    source: FaceMotion,
    driving: FaceMotion,
    reference: FaceMotion,
    regions: frozenset[str],
    multipliers: Mapping[str, float],
    relative: bool,
    networks: Networks = Networks(),
    retarget: frozenset[str] = frozenset(),
    landmarks: FaceLandmarks | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(x_s, x_d)``: the source's keypoints and where the driver moves them, both (21, 3).

    ``retarget`` (a subset of ``{"eyes", "lips"}``, needs ``landmarks``) moves those regions
    by the retargeting MLPs from open ratios instead of by the driver's expression keypoints.
    """
    retarget = retarget & RETARGETABLE & regions if landmarks is not None else frozenset()
    x_source = transform(source)
    driven = drive(source, driving, reference, regions - retarget, relative)
    if retarget:  # the retargeted keypoints keep the source's expression even when the whole expression moves
        kept = [index for region in sorted(retarget) for index in _REGION_KEYPOINTS[region]]
        expression = driven.expression.copy()
        expression[kept] = source.expression[kept]
        driven = replace(driven, expression=expression)
    posed = FaceMotion(source.canonical, driven.rotation, source.expression, driven.translation, driven.scale)
    x_driven = transform(driven)
    if retarget:
        x_driven = x_driven + _retargeting(x_source, landmarks, retarget, relative, networks)
    if networks.stitching is not None:
        x_driven = apply_stitching(x_driven, networks.stitching(stitching_input(x_source, x_driven)))
    x_driven = apply_multipliers(x_source, transform(posed), x_driven, float(multipliers.get("pose", 1.0)), keypoint_multipliers(dict(multipliers)))
    return x_source, x_driven
