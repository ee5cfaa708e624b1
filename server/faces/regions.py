"""The 68-point landmark layout (iBUG 300-W, dlib's order) and the face regions built on it.

Indices: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47 (the subject's right eye
first), mouth 48-67 (outer lip 48-59, inner lip 60-67).
"""

from __future__ import annotations

import numpy as np

__all__ = ["POINTS", "JAW", "BROWS", "NOSE", "EYES", "MOUTH", "INNER_LIPS", "LOWER_JAW", "REGIONS",
           "STABLE", "region_of_points", "mouth_open_ratio", "eye_open_ratio"]

POINTS = 68
JAW = tuple(range(0, 17))
BROWS = tuple(range(17, 27))
NOSE = tuple(range(27, 36))
EYES = tuple(range(36, 48))
MOUTH = tuple(range(48, 68))
INNER_LIPS = tuple(range(60, 68))
LOWER_JAW = tuple(range(4, 13))  # the chin and jaw line that follow the mouth when it opens

# Which points a region moves. ``expression`` is every non-rigid change of the face;
# ``pose`` is the rigid part (rotation, scale, translation) and moves no single point.
REGIONS: dict[str, tuple[int, ...]] = {
    "eyes": EYES,
    "lips": MOUTH + LOWER_JAW,
    "expression": tuple(range(POINTS)),
}

# Points that hardly move with expression: the fit of one face onto another uses these.
STABLE = (27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45)


def region_of_points(regions: frozenset[str], multipliers: dict[str, float]) -> np.ndarray:
    """(68,) per-point weight of the expression change.

    ``expression`` weighs every point by its multiplier; ``eyes`` and ``lips``, more specific,
    set their own points' weight over it.
    """
    weights = np.zeros(POINTS, np.float32)
    for region in ("expression", "eyes", "lips"):
        if region in regions:
            weights[list(REGIONS[region])] = np.float32(multipliers.get(region, 1.0))
    return weights


def mouth_open_ratio(landmarks: np.ndarray) -> float:
    """Inner-lip gap (mean of the three vertical pairs) over the mouth width."""
    gap = np.mean([np.linalg.norm(landmarks[upper] - landmarks[lower]) for upper, lower in ((61, 67), (62, 66), (63, 65))])
    return float(gap / (np.linalg.norm(landmarks[60] - landmarks[64]) or 1.0))


def eye_open_ratio(landmarks: np.ndarray) -> float:
    """Mean eyelid gap of both eyes over their widths (the usual eye aspect ratio)."""
    ratios = []
    for corner_a, upper_a, upper_b, corner_b, lower_b, lower_a in ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47)):
        gap = np.linalg.norm(landmarks[upper_a] - landmarks[lower_a]) + np.linalg.norm(landmarks[upper_b] - landmarks[lower_b])
        ratios.append(gap / (2.0 * (np.linalg.norm(landmarks[corner_a] - landmarks[corner_b]) or 1.0)))
    return float(np.mean(ratios))
