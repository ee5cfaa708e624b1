"""The interface every expression backend implements, and what it gets per frame.

The ``expression`` op owns everything around the face model: colour to display and
back, detection, tracking and landmarks of target, driver and reference (through the
swappable provider in ``framebridge.server.faces``), smoothing of the driving motion,
which face, frames without a face, the matte's feather, the paste-back that keeps
every pixel outside the matte bit-identical, alpha, and the cache. A backend only
moves the face: the CPU default by a landmark-driven warp, the LivePortrait backend
by its keypoints, warping module and generator.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..faces.backend import FaceModelBackend

__all__ = ["FaceState", "Motion", "AnimateRequest", "AnimateResult", "ExpressionBackend", "REGION_NAMES"]

REGION_NAMES = ("expression", "eyes", "lips", "pose")


@dataclass(frozen=True)
class FaceState:
    """What the op knows about one face in one image."""

    landmarks: np.ndarray  # (68, 2) float32 pixels, x right, y down, dlib/iBUG order
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 pixels


@dataclass(frozen=True)
class Motion:
    """What to transfer, already validated by the op."""

    regions: frozenset[str]  # subset of REGION_NAMES; "all" is expanded by the op
    multipliers: Mapping[str, float]  # per region, finite
    relative: bool  # relative to the reference driving frame, else absolute
    retarget: frozenset[str] = frozenset()  # of "eyes", "lips": move them by their open ratios (backends with retargeting models)


@dataclass(frozen=True)
class AnimateRequest:
    """One target frame to animate with its paired driving frame; images are display-referred RGB float32 0..1."""

    target: np.ndarray  # (H, W, 3)
    target_face: FaceState
    driving: np.ndarray  # (h, w, 3) the driving frame paired with this target frame
    driving_face: FaceState  # already temporally smoothed by the op
    reference: np.ndarray  # the reference (neutral) driving frame
    reference_face: FaceState
    source_key: str  # stable id of the target image: a still source animates many frames, cache per key
    motion: Motion
    feather: float = 0.1  # the matte's soft edge as a fraction of the face size


@dataclass(frozen=True)
class AnimateResult:
    image: np.ndarray  # (H, W, 3) float32 0..1, same size as the target
    matte: np.ndarray  # (H, W) float32 0..1 soft face mask; outside it the op keeps input pixels bit-identical
    stmap: np.ndarray  # (H, W, 2) float32 normalised source position u=(x+0.5)/W, v=1-(y+0.5)/H (Nuke, origin bottom-left)
    landmarks: np.ndarray  # (68, 2) the target's landmarks after the motion (for tracks), pixels


class ExpressionBackend(FaceModelBackend):
    """Moves a target face as a driving face moves; heavy imports happen lazily, never at import."""

    @abstractmethod
    def animate(self, request: AnimateRequest) -> AnimateResult:
        """The target with its face moved, the matte, the STMap and the moved landmarks."""
