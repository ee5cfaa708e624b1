"""One face followed through a clip: tracked, then smoothed over frame time (One-Euro)."""

from __future__ import annotations

import numpy as np

from ..faces import FaceTracker, OneEuroFilter, filter_for_strength, landmark_provider
from ..faces.mask import face_size
from .backend import FaceState

__all__ = ["SmoothedTrack"]


class SmoothedTrack:
    """The tracked face of each frame with its landmarks smoothed; the last good face is :attr:`held`."""

    def __init__(self, strength: float, point: tuple[float, float] | None = None):
        self.strength = strength
        self.point = point
        self.tracker = FaceTracker(landmark_provider(), point=point)
        self.filter: OneEuroFilter | None = None
        self.held: FaceState | None = None

    def follow(self, display: np.ndarray, number: int) -> FaceState | None:
        """This frame's face, smoothed with the frames before it; None (and nothing held changed) when absent."""
        face = self.tracker.find(display)
        if face is None:
            return None
        landmarks = face.landmarks
        if self.strength > 0.0:
            if self.filter is None:
                self.filter = filter_for_strength(self.strength, face_size(landmarks))
            landmarks = self.filter(landmarks, float(number))
        self.held = FaceState(np.asarray(landmarks, np.float32), face.box)
        return self.held

    def detect_once(self, display: np.ndarray) -> FaceState | None:
        """The face in a single image (a still source, a reference frame), leaving the track as it was."""
        face = FaceTracker(self.tracker.provider, point=self.point).find(display)
        return None if face is None else FaceState(face.landmarks, face.box)
