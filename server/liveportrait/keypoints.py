"""LivePortrait's implicit-keypoint math, as published, in plain numpy.

The motion extractor describes a face by 21 canonical keypoints ``x_c`` (21x3), a head
pose (pitch, yaw, roll as 66-bin logits), an expression deformation ``exp`` (21x3), a
translation ``t`` (3) and a scale ``s``. The driven keypoints are
``x = s (x_c R + exp) + t`` on row vectors with ``t_z = 0``, where
``R = (Rz(roll) Ry(yaw) Rx(pitch))^T``. Relative driving moves the source by the
driver's change since a reference frame: ``R = R_d R_ref^T R_s``,
``exp = exp_s + exp_d - exp_ref``, ``s = s_s s_d / s_ref``, ``t = t_s + t_d - t_ref``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ALL_REGIONS",
    "EYE_KEYPOINTS",
    "LIP_KEYPOINTS",
    "NUM_BINS",
    "NUM_KEYPOINTS",
    "FaceMotion",
    "apply_multipliers",
    "apply_stitching",
    "bins_to_degrees",
    "drive",
    "euler_angles",
    "eye_open_ratios",
    "eye_retarget_input",
    "keypoint_multipliers",
    "lip_open_ratio",
    "lip_retarget_input",
    "rotation_matrix",
    "stitching_input",
    "transform",
]

NUM_KEYPOINTS = 21
NUM_BINS = 66
LIP_KEYPOINTS = (6, 12, 14, 17, 19, 20)
EYE_KEYPOINTS = (11, 13, 15, 16, 18)
ALL_REGIONS = frozenset({"expression", "eyes", "lips", "pose"})
# Absolute driving with the whole expression takes these keypoints (and components) from the
# driver and keeps the rest of the source's: the published choice, which leaves the face shape alone.
_ABSOLUTE_EXPRESSION_KEYPOINTS = (1, 2, 6, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
_ABSOLUTE_EXPRESSION_COMPONENTS = ((3, (1,)), (4, (1,)), (5, (2,)), (8, (2,)), (9, (1, 2)))


@dataclass(frozen=True)
class FaceMotion:
    """One image's keypoint description: canonical points, pose, expression, translation and scale."""

    canonical: np.ndarray  # (21, 3) x_c
    rotation: np.ndarray  # (3, 3) R, applied to row vectors
    expression: np.ndarray  # (21, 3) exp
    translation: np.ndarray  # (3,) t
    scale: float

    @classmethod
    def from_extractor(cls, outputs: dict[str, np.ndarray]) -> "FaceMotion":
        """From the motion extractor's raw outputs for one image (``kp``, ``pitch``, ``yaw``, ``roll``, ``t``, ``exp``, ``scale``)."""
        pitch, yaw, roll = (float(bins_to_degrees(np.asarray(outputs[name]).reshape(-1))) for name in ("pitch", "yaw", "roll"))
        return cls(
            canonical=np.asarray(outputs["kp"], dtype=np.float64).reshape(-1, 3),
            rotation=rotation_matrix(pitch, yaw, roll),
            expression=np.asarray(outputs["exp"], dtype=np.float64).reshape(-1, 3),
            translation=np.asarray(outputs["t"], dtype=np.float64).reshape(3),
            scale=float(np.asarray(outputs["scale"]).reshape(-1)[0]),
        )


def bins_to_degrees(logits: np.ndarray) -> np.ndarray:
    """Angle in degrees from 66-bin logits (last axis): the softmax expectation of the bin index, times 3, minus 97.5."""
    logits = np.asarray(logits, dtype=np.float64)
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return (weights * np.arange(logits.shape[-1])).sum(axis=-1) * 3.0 - 97.5


def rotation_matrix(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """``R = (Rz(roll) Ry(yaw) Rx(pitch))^T`` from angles in degrees, for row vectors (``x R``)."""
    p, y, r = np.radians([pitch, yaw, roll])
    about_x = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    about_y = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    about_z = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return (about_z @ about_y @ about_x).T


def euler_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in degrees of a matrix made by :func:`rotation_matrix` (yaw within +-90)."""
    forward = np.asarray(rotation, dtype=np.float64).T  # Rz Ry Rx
    pitch = np.arctan2(forward[2, 1], forward[2, 2])
    yaw = np.arctan2(-forward[2, 0], np.hypot(forward[2, 1], forward[2, 2]))
    roll = np.arctan2(forward[1, 0], forward[0, 0])
    return tuple(float(angle) for angle in np.degrees([pitch, yaw, roll]))


def transform(motion: FaceMotion) -> np.ndarray:
    """The driven keypoints ``x = s (x_c R + exp) + t`` with the translation's z left out."""
    translation = np.array([motion.translation[0], motion.translation[1], 0.0])
    return motion.scale * (motion.canonical @ motion.rotation + motion.expression) + translation


def drive(source: FaceMotion, driving: FaceMotion, reference: FaceMotion, regions: frozenset[str], relative: bool) -> FaceMotion:
    """The source's motion moved by the driver in the chosen regions (LivePortrait's animation step).

    ``regions`` is a subset of :data:`ALL_REGIONS`. ``expression`` moves every keypoint's
    expression; ``lips`` and ``eyes`` move only :data:`LIP_KEYPOINTS` / :data:`EYE_KEYPOINTS`;
    ``pose`` moves rotation and translation. Scale follows the driver only when every region
    moves (the published "all"), and only in relative mode.
    """
    moving = _moving_keypoints(regions)
    expression = source.expression.copy()
    rotation, translation, scale = source.rotation, source.translation, source.scale
    if relative:
        expression[moving] = (source.expression + driving.expression - reference.expression)[moving]
        if "pose" in regions:
            rotation = driving.rotation @ reference.rotation.T @ source.rotation
            translation = source.translation + driving.translation - reference.translation
        if regions >= ALL_REGIONS:
            scale = source.scale * driving.scale / reference.scale
    else:
        if "expression" in regions:
            expression[list(_ABSOLUTE_EXPRESSION_KEYPOINTS)] = driving.expression[list(_ABSOLUTE_EXPRESSION_KEYPOINTS)]
            for keypoint, components in _ABSOLUTE_EXPRESSION_COMPONENTS:
                expression[keypoint, list(components)] = driving.expression[keypoint, list(components)]
        else:
            expression[moving] = driving.expression[moving]
        if "pose" in regions:
            rotation, translation = driving.rotation, driving.translation
    return FaceMotion(source.canonical, rotation, expression, translation, scale)


def _moving_keypoints(regions: frozenset[str]) -> list[int]:
    """Keypoint indices whose expression the regions move."""
    if "expression" in regions:
        return list(range(NUM_KEYPOINTS))
    chosen = set()
    if "lips" in regions:
        chosen.update(LIP_KEYPOINTS)
    if "eyes" in regions:
        chosen.update(EYE_KEYPOINTS)
    return sorted(chosen)


def keypoint_multipliers(multipliers: dict[str, float]) -> np.ndarray:
    """Per-keypoint expression multiplier (21,): lips and eyes keypoints take their region's, the rest ``expression``'s."""
    factors = np.full(NUM_KEYPOINTS, float(multipliers.get("expression", 1.0)))
    factors[list(LIP_KEYPOINTS)] = float(multipliers.get("lips", multipliers.get("expression", 1.0)))
    factors[list(EYE_KEYPOINTS)] = float(multipliers.get("eyes", multipliers.get("expression", 1.0)))
    return factors


def apply_multipliers(source: np.ndarray, posed: np.ndarray, driven: np.ndarray, pose_factor: float, keypoint_factors: np.ndarray) -> np.ndarray:
    """The published multiplier ``x = x_s + (x - x_s) k``, with the head's and the face's share scaled apart.

    ``posed`` is the source with only the pose driven, ``driven`` the full (stitched) result:
    ``x = x_s + k_pose (posed - x_s) + k_i (driven - posed)``. With one ``k`` everywhere this
    is exactly ``x_s + (driven - x_s) k``.
    """
    factors = np.asarray(keypoint_factors, dtype=np.float64).reshape(-1, 1)
    return source + pose_factor * (posed - source) + factors * (driven - posed)


def stitching_input(source: np.ndarray, driven: np.ndarray) -> np.ndarray:
    """The stitching MLP's input (126,): the source and driven keypoints, flattened and joined."""
    return np.concatenate([np.ravel(source), np.ravel(driven)])


def apply_stitching(driven: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Driven keypoints corrected by the stitching MLP's output (65,): 63 keypoint offsets, then tx and ty for all."""
    count = driven.shape[0]
    delta = np.asarray(delta, dtype=np.float64).reshape(-1)
    stitched = driven + delta[: 3 * count].reshape(count, 3)
    stitched[:, :2] += delta[3 * count : 3 * count + 2]
    return stitched


def _distance_ratio(landmarks: np.ndarray, first: int, second: int, third: int, fourth: int) -> float:
    """``|p_first - p_second| / |p_third - p_fourth|``, guarded against a zero denominator."""
    points = np.asarray(landmarks, dtype=np.float64)
    return float(np.linalg.norm(points[first] - points[second]) / (np.linalg.norm(points[third] - points[fourth]) + 1e-6))


def eye_open_ratios(landmarks: np.ndarray) -> tuple[float, float]:
    """Each eye's opening over its width from 68 dlib landmarks (the subject's right eye first).

    Upstream measures this on its own 203-point model; on dlib's 68 points the lid gap is
    the mean of the two upper/lower lid pairs, the width corner to corner.
    """
    points = np.asarray(landmarks, dtype=np.float64)

    def opening(upper: tuple[int, int], lower: tuple[int, int], corners: tuple[int, int]) -> float:
        gap = (np.linalg.norm(points[upper[0]] - points[lower[1]]) + np.linalg.norm(points[upper[1]] - points[lower[0]])) / 2
        return float(gap / (np.linalg.norm(points[corners[0]] - points[corners[1]]) + 1e-6))

    return opening((37, 38), (40, 41), (36, 39)), opening((43, 44), (46, 47), (42, 45))


def lip_open_ratio(landmarks: np.ndarray) -> float:
    """The inner lips' gap over the mouth's width, from 68 dlib landmarks (points 62-66 over 48-54)."""
    return _distance_ratio(landmarks, 62, 66, 48, 54)


def eye_retarget_input(source: np.ndarray, source_eyes: tuple[float, float], target_eye: float) -> np.ndarray:
    """The eye retargeting MLP's input (66,): source keypoints, the source's two eye ratios, the wanted ratio."""
    return np.concatenate([np.ravel(source), [source_eyes[0], source_eyes[1], target_eye]])


def lip_retarget_input(source: np.ndarray, source_lip: float, target_lip: float) -> np.ndarray:
    """The lip retargeting MLP's input (65,): source keypoints, the source's lip ratio, the wanted ratio."""
    return np.concatenate([np.ravel(source), [source_lip, target_lip]])
