"""Armature joints projected to 2D camera pixels, as the COCO-18 keypoints of the pose condition.

Pure numpy: the Blender side hands over each bone's head and tail in world space
and the camera's view and projection matrices; this module maps bones to the 18
OpenPose/COCO joints and projects them to pixels (x right, y down, origin at the
top-left corner of the frame) with a visibility of 1 (in front of the camera and
inside the frame) or 0 (behind it, outside it, or no bone mapped).

A mapping names, for each COCO joint, a bone and which end of it marks the joint::

    {"neck": "DEF-spine.004:head", "right_wrist": "DEF-hand.R:head", ...}

Presets cover Rigify, Mixamo and the simple rig the tests build; a user mapping is
the same JSON text (for example in a Blender Text datablock), parsed by
:func:`parse_mapping`. Joints the mapping leaves out are sent invisible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from framebridge.protocol.errors import InvalidParams

__all__ = [
    "COCO_JOINTS",
    "BoneEnd",
    "PRESETS",
    "parse_mapping",
    "detect_preset",
    "project_points",
    "armature_joints",
]

COCO_JOINTS = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)


@dataclass(frozen=True)
class BoneEnd:
    """The end (``head`` or ``tail``) of a named bone that marks a joint."""

    bone: str
    end: str = "head"

    @classmethod
    def parse(cls, text: str) -> BoneEnd:
        """``"bone:head"``, ``"bone:tail"``, or ``"bone"`` for its head (bone names may hold colons)."""
        for end in ("head", "tail"):
            if text.endswith(":" + end):
                bone = text[: -len(end) - 1]
                break
        else:
            bone, end = text, "head"
        if not bone:
            raise InvalidParams(f"joint spec {text!r} names no bone", fix='write "bone_name:head" or "bone_name:tail"')
        return cls(bone, end)


def _preset(pairs: Mapping[str, str]) -> dict[str, BoneEnd]:
    return {joint: BoneEnd.parse(spec) for joint, spec in pairs.items()}


PRESETS: dict[str, dict[str, BoneEnd]] = {
    # Rigify's generated rig: deformation bones, face bones from the ORG layer.
    "RIGIFY": _preset({
        "nose": "ORG-nose:tail", "neck": "DEF-spine.004:head",
        "right_shoulder": "DEF-upper_arm.R:head", "right_elbow": "DEF-forearm.R:head", "right_wrist": "DEF-hand.R:head",
        "left_shoulder": "DEF-upper_arm.L:head", "left_elbow": "DEF-forearm.L:head", "left_wrist": "DEF-hand.L:head",
        "right_hip": "DEF-thigh.R:head", "right_knee": "DEF-shin.R:head", "right_ankle": "DEF-foot.R:head",
        "left_hip": "DEF-thigh.L:head", "left_knee": "DEF-shin.L:head", "left_ankle": "DEF-foot.L:head",
        "right_eye": "ORG-eye.R:head", "left_eye": "ORG-eye.L:head", "right_ear": "ORG-ear.R:head", "left_ear": "ORG-ear.L:head",
    }),
    # Mixamo characters (the default "mixamorig:" prefix); Mixamo has no nose or ear bones.
    "MIXAMO": _preset({
        "neck": "mixamorig:Neck:head",
        "right_shoulder": "mixamorig:RightArm:head", "right_elbow": "mixamorig:RightForeArm:head", "right_wrist": "mixamorig:RightHand:head",
        "left_shoulder": "mixamorig:LeftArm:head", "left_elbow": "mixamorig:LeftForeArm:head", "left_wrist": "mixamorig:LeftHand:head",
        "right_hip": "mixamorig:RightUpLeg:head", "right_knee": "mixamorig:RightLeg:head", "right_ankle": "mixamorig:RightFoot:head",
        "left_hip": "mixamorig:LeftUpLeg:head", "left_knee": "mixamorig:LeftLeg:head", "left_ankle": "mixamorig:LeftFoot:head",
        "right_eye": "mixamorig:RightEye:head", "left_eye": "mixamorig:LeftEye:head",
    }),
    # A plain humanoid named like Rigify's metarig, without prefixes (the test rig uses it).
    "SIMPLE": _preset({
        "nose": "head:tail", "neck": "neck:head",
        "right_shoulder": "upper_arm.R:head", "right_elbow": "forearm.R:head", "right_wrist": "forearm.R:tail",
        "left_shoulder": "upper_arm.L:head", "left_elbow": "forearm.L:head", "left_wrist": "forearm.L:tail",
        "right_hip": "thigh.R:head", "right_knee": "shin.R:head", "right_ankle": "shin.R:tail",
        "left_hip": "thigh.L:head", "left_knee": "shin.L:head", "left_ankle": "shin.L:tail",
    }),
}


def parse_mapping(text: str) -> dict[str, BoneEnd]:
    """A user mapping from JSON text ``{"coco_joint": "bone:head|tail", ...}``, checked joint by joint."""
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise InvalidParams(f"the joint mapping is not valid JSON ({error})",
                            fix='write it as {"neck": "spine.004:head", "right_wrist": "hand.R:head", ...}') from None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise InvalidParams("the joint mapping must be a JSON object of joint name -> \"bone:head|tail\"")
    unknown = sorted(set(raw) - set(COCO_JOINTS))
    if unknown:
        raise InvalidParams(f"unknown joints {unknown} in the joint mapping", details={"allowed": list(COCO_JOINTS)})
    return {joint: BoneEnd.parse(spec) for joint, spec in raw.items()}


def detect_preset(bone_names: set[str]) -> str | None:
    """The preset that finds the most of its bones in an armature, or None when none matches."""
    matches = {name: sum(end.bone in bone_names for end in mapping.values()) for name, mapping in PRESETS.items()}
    best = max(matches, key=matches.get)
    return best if matches[best] else None


def project_points(points: np.ndarray, view: np.ndarray, projection: np.ndarray, width: int, height: int) -> np.ndarray:
    """World points (N, 3) -> (N, 3) of pixel x, pixel y (top-left origin) and visibility 0 or 1.

    ``view`` is camera-from-world (the inverse of the camera's world matrix) and
    ``projection`` the OpenGL-style clip-from-camera matrix Blender's
    ``Object.calc_matrix_camera`` returns for this resolution.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    clip = homogeneous @ (np.asarray(projection, dtype=np.float64) @ np.asarray(view, dtype=np.float64)).T
    w = clip[:, 3]
    in_front = w > 1e-9
    safe_w = np.where(in_front, w, 1.0)
    x = (clip[:, 0] / safe_w + 1.0) * 0.5 * width
    y = (1.0 - clip[:, 1] / safe_w) * 0.5 * height
    inside = in_front & (x >= 0) & (x <= width) & (y >= 0) & (y <= height)
    return np.stack([np.where(in_front, x, 0.0), np.where(in_front, y, 0.0), inside.astype(np.float64)], axis=1)


def armature_joints(bone_ends: Mapping[str, Mapping[str, np.ndarray]], mapping: Mapping[str, BoneEnd],
                    view: np.ndarray, projection: np.ndarray, width: int, height: int) -> np.ndarray:
    """One person's (18, 3) float32 COCO joints from world-space bone ends ``{bone: {"head": xyz, "tail": xyz}}``."""
    joints = np.zeros((len(COCO_JOINTS), 3), dtype=np.float32)
    present = [(index, mapping[joint]) for index, joint in enumerate(COCO_JOINTS)
               if joint in mapping and mapping[joint].bone in bone_ends]
    if present:
        points = np.array([bone_ends[end.bone][end.end] for _, end in present], dtype=np.float64)
        projected = project_points(points, view, projection, width, height)
        joints[[index for index, _ in present]] = projected
    return joints
