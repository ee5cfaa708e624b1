"""Driving clips with a known performance, made from one still face (demo and benchmark).

The face's mouth opens and closes by a thin-plate warp of its own landmarks
(:func:`framebridge.server.faces.shapes.open_mouth`): the opening of every frame is
known exactly, so what the op transfers can be measured against it.
"""

from __future__ import annotations

import math

import numpy as np

from framebridge.protocol.errors import InvalidParams

from ..faces import FaceTracker, landmark_provider, warp_face
from ..faces.shapes import open_mouth

__all__ = ["mouth_openings", "mouth_clip"]


def mouth_openings(frames: int, opening: float, cycles: float = 2.0) -> list[float]:
    """Per-frame jaw drop in pixels: closed on the first frame, ``cycles`` smooth open-close cycles over the clip."""
    return [opening * 0.5 * (1.0 - math.cos(2.0 * math.pi * cycles * index / max(frames, 1))) for index in range(frames)]


def mouth_clip(image: np.ndarray, frames: int, opening: float = 10.0, cycles: float = 2.0) -> tuple[list[np.ndarray], list[float]]:
    """``frames`` uint8 RGB frames of ``image``'s face opening and closing its mouth, and the opening of each."""
    face = FaceTracker(landmark_provider()).find(image)
    if face is None:
        raise InvalidParams("the image for a driving clip has no face the landmark provider finds")
    amounts = mouth_openings(frames, opening, cycles)
    clip = [warp_face(face.landmarks, open_mouth(face.landmarks, amount), image.shape[:2]).composite(image)
            for amount in amounts]
    return clip, amounts
