"""The interface every restyle backend implements, and the request it gets per frame.

The ``restyle`` op owns everything around the model: colour conversion, temporal
blending, seeds, keyframes and the cache. A backend only turns a window of
display-referred frames into restyled frames of the same size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from framebridge.protocol import passes as canonical

__all__ = ["GEOMETRY_PASSES", "StyleRequest", "RestyleBackend", "StyleLayers"]

# Render passes a backend may draw from directly: depth and object ids give exact outlines.
GEOMETRY_PASSES = (canonical.DEPTH, canonical.OBJECT_INDEX)


@dataclass(frozen=True)
class StyleRequest:
    """One frame to restyle; every image is display-referred float32 RGB in 0..1."""

    number: int
    image: np.ndarray  # (H, W, 3) the frame's starting image (temporal blend already applied by the op)
    conditions: dict[str, np.ndarray]  # name -> (H, W, 3) float32 0..1 ControlNet condition images
    prompt: str
    negative_prompt: str
    strength: float  # 0..1 img2img strength
    seed: int  # per-frame seed (derived from shot seed + frame number)
    guidance_scale: float
    steps: int
    condition_weights: dict[str, float] = field(default_factory=dict)  # name -> ControlNet conditioning scale
    options: dict[str, Any] = field(default_factory=dict)  # backend-specific params it declared in describe()["params"]
    passes: dict[str, np.ndarray] = field(default_factory=dict)  # the frame's GEOMETRY_PASSES it came with (exact outlines)


@dataclass(frozen=True)
class StyleLayers:
    """A filter's look before its lines are drawn over it, so the op can carry each along motion its own way.

    The image is ``colour * (1 - lines) + ink * lines``; a request's strength is already in both
    (colour mixed from the request image, lines faded).
    """

    colour: np.ndarray  # (H, W, 3) float32 0..1, the continuous-toned look without lines
    lines: np.ndarray  # (H, W) float32 0..1 line coverage, its opacity included
    ink: tuple[float, float, float] = (0.0, 0.0, 0.0)  # the lines' colour

    def compose(self) -> np.ndarray:
        """The final (H, W, 3) float32 image: lines inked over the colour."""
        lines = self.lines[..., None]
        return np.clip(self.colour * (1.0 - lines) + np.asarray(self.ink, np.float32) * lines, 0.0, 1.0).astype(np.float32)


class RestyleBackend(ABC):
    """Restyles windows of frames; heavy imports happen in :meth:`load`, never at import."""

    name: ClassVar[str]
    fuses_output: ClassVar[bool] = False
    """True when the op should also blend the warped previous result into this backend's output
    (right for deterministic filters; a generative backend keeps its own detail and leaves it False)."""

    draws_layers: ClassVar[bool] = False
    """True when the backend also has ``run_layers(window) -> list[StyleLayers]`` (each one's ``compose``
    is what :meth:`run` returns): the op then carries the previous frame's colour and lines separately,
    so lines never smear into ghosts. Implies ``fuses_output``."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Version string, the params it understands, and the models it uses."""

    @abstractmethod
    def load(self) -> None:
        """Make the backend ready to run; idempotent, imports heavy modules lazily."""

    @abstractmethod
    def run(self, window: list[StyleRequest]) -> list[np.ndarray]:
        """One (H, W, 3) float32 0..1 image per request, at the request image's exact size."""

    @property
    @abstractmethod
    def version(self) -> str:
        """Identifies the backend's behaviour (code and models); part of every cache key."""
