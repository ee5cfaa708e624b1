"""Depth condition: inverse depth over one shot-wide near/far range, near bright, background black.

ControlNet depth models were trained on MiDaS-style inverse depth normalised to
0..1. Normalising each frame on its own would make brightness flicker as objects
move, so one range serves the whole shot (the op decides where it comes from).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from framebridge.protocol.errors import InvalidParams
from framebridge.protocol.passes import BACKGROUND_DEPTH, shot_depth_range

__all__ = ["BACKGROUND_DEPTH", "DepthRange", "depth_condition", "measure_depth_range"]


@dataclass(frozen=True)
class DepthRange:
    """Distances (scene units along the camera axis) mapped to 1 (near) and 0 (far)."""

    near: float
    far: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.near) and np.isfinite(self.far) and 0.0 < self.near < self.far):
            raise InvalidParams(f"depth range must be 0 < near < far, got near={self.near}, far={self.far}")


def measure_depth_range(depth: np.ndarray) -> DepthRange | None:
    """The nearest and farthest foreground depth of a frame; None when it has no foreground.

    The rule is :func:`framebridge.protocol.passes.shot_depth_range`'s, so a range a
    host measured over the shot and one measured here agree.
    """
    measured = shot_depth_range([depth])
    return DepthRange(*measured) if measured else None


def depth_condition(depth: np.ndarray, depth_range: DepthRange) -> np.ndarray:
    """(H, W) float32: 1 at ``near`` (and closer), 0 at ``far`` (and beyond, and background)."""
    inverse_near, inverse_far = 1.0 / depth_range.near, 1.0 / depth_range.far
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = np.reciprocal(depth.astype(np.float32, copy=False))
    # Background (1e10, inf, nan, zero or negative depth) has 1/z outside (1/far, inf): it becomes 0.
    background = ~(inverse > inverse_far)
    background |= np.isposinf(inverse)
    inverse[background] = inverse_far
    scaled = (inverse - np.float32(inverse_far)) * np.float32(1.0 / (inverse_near - inverse_far))
    return np.clip(scaled, 0.0, 1.0, out=scaled)
