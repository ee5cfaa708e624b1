"""Mouth shapes on the 68 landmarks: each cue shape's openness, width and roundness, and the landmarks that reach it.

A shape is three numbers measured in the mouth's own frame (x along the line between
the corners, y toward the chin), relative to the face's neutral mouth width ``W``:
``openness`` is the inner-lip gap over ``W``, ``width`` the corner-to-corner distance
over ``W``, ``roundness`` 0..1 how far the lips pucker (thicker, pushed together).
A frame's target is the weight-blend of its cue shapes. Opening moves the lower lip
and the jaw (chin most) down and the upper lip a little up, each pair of inner-lip
points by the amount its own gap must change, so a closed target really closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

__all__ = ["MouthShape", "SHAPE_TARGETS", "blend_shape", "mouth_frame", "inner_gap", "mouth_width", "shaped_landmarks"]


@dataclass(frozen=True)
class MouthShape:
    openness: float
    width: float
    roundness: float


# Rhubarb's shapes (FACES.md): A closed with pressure, B slightly open teeth together, C open,
# D wide open, E slightly rounded, F puckered, G teeth on lip, H tongue up (long L), X rest.
SHAPE_TARGETS: dict[str, MouthShape] = {
    "A": MouthShape(0.0, 0.97, 0.0),
    "B": MouthShape(0.07, 1.03, 0.0),
    "C": MouthShape(0.24, 1.04, 0.1),
    "D": MouthShape(0.45, 1.0, 0.15),
    "E": MouthShape(0.2, 0.88, 0.55),
    "F": MouthShape(0.09, 0.74, 0.9),
    "G": MouthShape(0.05, 1.0, 0.0),
    "H": MouthShape(0.2, 1.0, 0.1),
    "X": MouthShape(0.015, 1.0, 0.0),
}

OUTER_UPPER = (49, 50, 51, 52, 53)
OUTER_LOWER = (55, 56, 57, 58, 59)
INNER_UPPER = (61, 62, 63)
INNER_LOWER = (67, 66, 65)  # paired with INNER_UPPER, left to right in the image
CORNERS = (48, 54, 60, 64)
MOUTH = tuple(range(48, 68))
JAW_FOLLOW = {4: 0.1, 5: 0.35, 6: 0.65, 7: 0.9, 8: 1.0, 9: 0.9, 10: 0.65, 11: 0.35, 12: 0.1}
UPPER_SHARE = 0.2  # of a gap change, taken by the upper lip; the lower lip and jaw take the rest
PRESS_THINNING = 0.15  # a closed shape (A) presses the lips thinner by this fraction
PUCKER_THICKENING = 0.35


def blend_shape(weights: Mapping[str, float]) -> MouthShape:
    """The weight-blend of the cue shapes (weights are normalised; unknown shapes are ignored)."""
    known = {name: float(value) for name, value in weights.items() if name in SHAPE_TARGETS and value > 0}
    total = sum(known.values())
    if total <= 0:
        return SHAPE_TARGETS["X"]
    blend = [sum(getattr(SHAPE_TARGETS[name], part) * value for name, value in known.items()) / total
             for part in ("openness", "width", "roundness")]
    return MouthShape(*blend)


def mouth_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin, x axis, y axis): origin between the corners, x toward the image-right corner, y toward the chin."""
    left, right = landmarks[48].astype(np.float64), landmarks[54].astype(np.float64)
    axis_x = right - left
    axis_x /= max(np.linalg.norm(axis_x), 1e-6)
    axis_y = np.array([-axis_x[1], axis_x[0]])
    if np.dot(axis_y, landmarks[8] - left) < 0:  # keep y pointing at the chin even for a mirrored layout
        axis_y = -axis_y
    return (left + right) / 2.0, axis_x, axis_y


def mouth_width(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[54] - landmarks[48]))


def inner_gap(landmarks: np.ndarray) -> float:
    """Mean inner-lip gap of the three vertical pairs, in pixels along the mouth's y axis (0 when lips overlap)."""
    _, _, axis_y = mouth_frame(landmarks)
    gaps = [(landmarks[lower] - landmarks[upper]) @ axis_y for upper, lower in zip(INNER_UPPER, INNER_LOWER)]
    return float(max(0.0, np.mean(gaps)))


def shaped_landmarks(landmarks: np.ndarray, shape: MouthShape, neutral_width: float, amount: float = 1.0) -> np.ndarray:
    """The 68 landmarks with mouth and jaw moved to ``shape`` (``amount`` 0..1 of the way there); others unchanged."""
    points = landmarks.astype(np.float64).copy()
    origin, axis_x, axis_y = mouth_frame(points)
    local = np.stack([(points - origin) @ axis_x, (points - origin) @ axis_y], axis=1)
    moved = local.copy()

    # Vertical: each inner pair's gap to the target, interpolated along x, zero at the corners.
    half_width = max(abs(local[54, 0]), abs(local[48, 0]), 1.0)
    pair_x = np.array([(local[u, 0] + local[l, 0]) / 2.0 for u, l in zip(INNER_UPPER, INNER_LOWER)])
    pair_gap = np.array([local[l, 1] - local[u, 1] for u, l in zip(INNER_UPPER, INNER_LOWER)])
    profile = np.array([0.85, 1.0, 0.85])  # an open mouth is a little less open off-centre
    change = shape.openness * neutral_width * profile - pair_gap
    order = np.argsort(pair_x)
    knots_x = np.concatenate([[-half_width], pair_x[order], [half_width]])
    knots_change = np.concatenate([[0.0], change[order], [0.0]])

    def change_at(x: np.ndarray) -> np.ndarray:
        return np.interp(x, knots_x, knots_change)

    lower = list(OUTER_LOWER) + list(INNER_LOWER)
    upper = list(OUTER_UPPER) + list(INNER_UPPER)
    moved[lower, 1] += (1.0 - UPPER_SHARE) * change_at(local[lower, 0])
    moved[upper, 1] -= UPPER_SHARE * change_at(local[upper, 0])
    centre_change = float(change[1])
    for index, share in JAW_FOLLOW.items():
        moved[index, 1] += (1.0 - UPPER_SHARE) * centre_change * share

    # Lip thickness: outer contour relative to the inner one (pressed thinner, puckered thicker).
    closedness = max(0.0, 1.0 - shape.openness / 0.1)
    thickness = 1.0 - PRESS_THINNING * closedness * (1.0 - shape.roundness) + PUCKER_THICKENING * shape.roundness
    for outer, inner in ((OUTER_UPPER, (61, 61, 62, 63, 63)), (OUTER_LOWER, (65, 65, 66, 67, 67))):
        moved[list(outer), 1] = moved[list(inner), 1] + (moved[list(outer), 1] - moved[list(inner), 1]) * thickness

    # Horizontal: the whole mouth scaled about its centre to the target width.
    current_width = max(local[54, 0] - local[48, 0], 1.0)
    moved[list(MOUTH), 0] *= shape.width * neutral_width / current_width

    moved = local + (moved - local) * amount
    result = origin + moved[:, :1] * axis_x + moved[:, 1:] * axis_y
    return result.astype(np.float32)
