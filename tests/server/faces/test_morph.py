"""A face moved by its landmarks: the astronaut's mouth opened by a known warp re-detects as opened."""

from __future__ import annotations

import numpy as np

from framebridge.server.faces import FaceTracker, warp_face
from framebridge.server.faces.regions import EYES, mouth_open_ratio
from framebridge.server.faces.shapes import open_mouth


def test_an_opened_mouth_redetects_lower_by_about_the_warp(astronaut, astronaut_face, face_provider):
    landmarks = astronaut_face.landmarks
    moved = open_mouth(landmarks, 8.0)
    result = warp_face(landmarks, moved, astronaut.shape[:2]).composite(astronaut)
    found = FaceTracker(face_provider).find(result)
    drop = found.landmarks[[57, 66, 8], 1] - landmarks[[57, 66, 8], 1]
    assert (drop > 4.0).all() and (drop < 12.0).all()
    assert mouth_open_ratio(found.landmarks) > 1.3 * mouth_open_ratio(landmarks)
    eyes = np.abs(found.landmarks[list(EYES)] - landmarks[list(EYES)]).max()
    assert eyes < 3.0


def test_pixels_outside_the_matte_are_bit_identical(astronaut, astronaut_face):
    landmarks = astronaut_face.landmarks
    moved = open_mouth(landmarks, 10.0)
    warp = warp_face(landmarks, moved, astronaut.shape[:2], feather=0.12)
    result = warp.composite(astronaut)
    outside = warp.matte == 0
    assert outside.mean() > 0.8
    assert np.array_equal(result[outside], astronaut[outside])
    assert not np.array_equal(result[~outside], astronaut[~outside])


def test_unmoved_landmarks_leave_the_face_as_it_was(astronaut, astronaut_face):
    landmarks = astronaut_face.landmarks
    warp = warp_face(landmarks, landmarks, astronaut.shape[:2])
    assert np.abs(warp.composite(astronaut).astype(int) - astronaut).max() <= 1
