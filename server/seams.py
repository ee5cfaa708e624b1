"""How visible a seam is: the warp error between consecutive results at chunk boundaries against within chunks.

The warp error of frame n is the mean absolute difference, in display values, between
result n and result n-1 warped to it along the render's ``motion_backward``, over the
pixels the motion trusts (consistent both ways, same depth, inside the frame). A chain
restyled in one piece changes little from frame to frame; a chunk that starts a fresh
chain jumps at its first frame. :func:`seam_ratio` divides the mean error over the
boundary frames by the mean over all other frames: 1 is no seam.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping

import numpy as np

from framebridge.protocol import passes

from .colour import linear_to_display
from .restyle.temporal import Warp

__all__ = ["warp_error", "seam_ratio", "Seams"]


def _display(image: np.ndarray) -> np.ndarray:
    return linear_to_display(np.clip(np.asarray(image, np.float32)[..., :3], 0.0, 1.0))


def warp_error(previous_result: np.ndarray, result: np.ndarray, frame: Mapping[str, np.ndarray],
               previous_frame: Mapping[str, np.ndarray]) -> float:
    """Mean |result - warped previous result| in display values over trusted pixels (``frame`` needs ``motion_backward``)."""
    motion = Warp(frame[passes.MOTION_BACKWARD])
    trusted = motion.consistency(previous_frame.get(passes.MOTION_FORWARD), depth=frame.get(passes.DEPTH),
                                 previous_depth=previous_frame.get(passes.DEPTH)) > 0.5
    if not trusted.any():
        return 0.0
    difference = np.abs(_display(result) - motion.apply(_display(previous_result)))
    return float(difference[trusted].mean())


@dataclass(frozen=True)
class Seams:
    boundary: float  # mean warp error into the first frame of each chunk after the first
    within: float    # mean warp error into every other frame
    ratio: float     # boundary / within


def seam_ratio(results: Mapping[int, np.ndarray], shot: Mapping[int, Mapping[str, np.ndarray]],
               starts: Collection[int]) -> Seams:
    """The warp error into each chunk's first frame (``starts``) against into every other frame with a predecessor."""
    boundary, within = [], []
    for number in sorted(results):
        if number - 1 in results:
            error = warp_error(results[number - 1], results[number], shot[number], shot[number - 1])
            (boundary if number in starts else within).append(error)
    if not boundary or not within:
        raise ValueError("a seam ratio needs frames at chunk boundaries and within chunks")
    mean_boundary, mean_within = float(np.mean(boundary)), float(np.mean(within))
    return Seams(mean_boundary, mean_within, mean_boundary / max(mean_within, 1e-12))
