"""Landmark edits with a known effect: a mouth opened by a number of pixels, a jittered face.

They make driving clips whose motion is known exactly (tests, benchmark, demo) and
give lip-sync a mouth-opening target shape.
"""

from __future__ import annotations

import numpy as np

__all__ = ["open_mouth", "jitter"]

# How far each point follows the opening jaw: the lower lip and chin fully, the jaw line less toward the ears.
_OPENING = {4: 0.25, 5: 0.45, 6: 0.7, 7: 0.9, 8: 1.0, 9: 0.9, 10: 0.7, 11: 0.45, 12: 0.25,
            55: 0.9, 56: 1.0, 57: 1.0, 58: 1.0, 59: 0.9, 65: 1.0, 66: 1.0, 67: 1.0, 54: 0.35, 48: 0.35,
            60: 0.35, 64: 0.35}


def open_mouth(landmarks: np.ndarray, pixels: float) -> np.ndarray:
    """The landmarks with the jaw dropped by ``pixels`` along the face's own downward axis."""
    down = landmarks[8] - landmarks[27]
    down = down / (np.linalg.norm(down) or 1.0)
    moved = np.array(landmarks, np.float32, copy=True)
    for index, weight in _OPENING.items():
        moved[index] += down * pixels * weight
    return moved


def jitter(landmarks: np.ndarray, pixels: float, rng: np.random.Generator) -> np.ndarray:
    """Every landmark moved by an independent normal offset of ``pixels`` standard deviation."""
    return (landmarks + rng.normal(0.0, pixels, landmarks.shape)).astype(np.float32)
