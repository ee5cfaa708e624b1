"""2D similarity transforms (rotation, uniform scale, translation) and their Procrustes fit.

Landmarks are row vectors in pixels; a transform maps ``p`` to ``scale * R(angle) p + translation``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Similarity", "fit_similarity"]


@dataclass(frozen=True)
class Similarity:
    scale: float = 1.0
    angle: float = 0.0  # radians, counter-clockwise in a y-down image (i.e. clockwise on screen)
    translation: tuple[float, float] = (0.0, 0.0)

    @property
    def linear(self) -> np.ndarray:
        """The 2x2 part ``scale * R``."""
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        return np.array([[cos, -sin], [sin, cos]], dtype=np.float64) * self.scale

    def apply(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64)
        return (points @ self.linear.T + np.asarray(self.translation)).astype(np.float32)

    def apply_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Displacements transform by the linear part only."""
        return (np.asarray(vectors, dtype=np.float64) @ self.linear.T).astype(np.float32)

    def inverse(self) -> Similarity:
        inverse = Similarity(1.0 / self.scale, -self.angle)
        tx, ty = inverse.apply_vectors(np.asarray([self.translation]))[0]
        return Similarity(inverse.scale, inverse.angle, (-float(tx), -float(ty)))

    def then(self, other: Similarity) -> Similarity:
        """``other`` applied after this transform."""
        tx, ty = other.apply(np.asarray([self.translation]))[0]
        return Similarity(self.scale * other.scale, self.angle + other.angle, (float(tx), float(ty)))

    def conjugate(self, frame: Similarity) -> Similarity:
        """This motion expressed in the space ``frame`` maps into: ``frame ∘ self ∘ frame⁻¹``."""
        return frame.inverse().then(self).then(frame)

    def power(self, amount: float, about: np.ndarray | None = None) -> Similarity:
        """A fraction of this motion (0: identity, 1: itself), scale and angle geodesic, about a fixed centre.

        The centre (default the origin) is where the rotation and scale of the partial motion are applied,
        so the partial motion of a face turns it about its own middle.
        """
        centre = np.zeros(2) if about is None else np.asarray(about, dtype=np.float64)
        moved_centre = self.apply(centre[None])[0]
        partial = Similarity(self.scale ** amount, self.angle * amount)
        tx, ty = centre + amount * (moved_centre - centre) - partial.apply(centre[None])[0]
        return Similarity(partial.scale, partial.angle, (float(tx), float(ty)))


def fit_similarity(source: np.ndarray, target: np.ndarray) -> Similarity:
    """The least-squares similarity taking ``source`` points onto ``target`` points (Umeyama 1991)."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(0), target.mean(0)
    centred_source, centred_target = source - source_mean, target - target_mean
    variance = (centred_source ** 2).sum() / len(source)
    covariance = centred_target.T @ centred_source / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(singular) @ sign) / variance) if variance > 0 else 1.0
    angle = math.atan2(rotation[1, 0], rotation[0, 0])
    tx, ty = target_mean - scale * rotation @ source_mean
    return Similarity(scale, angle, (float(tx), float(ty)))
