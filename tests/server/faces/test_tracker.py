"""Detection and tracking on the astronaut: a reduced search, a crop around the last face, the face chosen by a point."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.protocol.errors import InvalidParams
from framebridge.server.faces import FaceTracker, LandmarkProvider, landmark_provider
from framebridge.server.faces import landmarks as landmarks_module


def test_the_astronauts_face_and_its_68_landmarks_are_found(astronaut_face):
    x0, y0, x1, y1 = astronaut_face.box
    assert 150 < x0 < x1 < 300 and 60 < y0 < y1 < 200
    assert astronaut_face.landmarks.shape == (68, 2)
    # Eyes above the nose tip above the mouth above the chin.
    ys = astronaut_face.landmarks[:, 1]
    assert ys[36:48].mean() < ys[30] < ys[48:68].mean() < ys[8]


def test_a_large_plate_is_searched_reduced_and_the_landmarks_are_full_resolution(astronaut, astronaut_face, face_provider):
    import cv2

    plate = cv2.resize(astronaut, (1536, 1536), interpolation=cv2.INTER_LINEAR)
    face = FaceTracker(face_provider, search_size=512).find(plate)
    assert face is not None
    np.testing.assert_allclose(face.landmarks / 3.0, astronaut_face.landmarks, atol=4.0)


def test_the_next_frame_is_tracked_in_a_crop_around_the_last_face(astronaut, face_provider):
    tracker = FaceTracker(face_provider)
    first = tracker.find(astronaut)
    shifted = np.roll(astronaut, (6, -9), axis=(0, 1))
    calls = []
    original = face_provider.detect

    def counting(grey, upsample=0):
        calls.append(grey.shape)
        return original(grey, upsample)

    face_provider.detect = counting
    try:
        second = tracker.find(shifted)
    finally:
        del face_provider.detect
    assert len(calls) == 1 and max(calls[0]) <= tracker.crop_size
    np.testing.assert_allclose(second.landmarks - first.landmarks, np.tile([-9.0, 6.0], (68, 1)), atol=2.5)


def test_a_frame_without_a_face_gives_none_and_the_track_starts_over(astronaut, face_provider):
    tracker = FaceTracker(face_provider)
    tracker.find(astronaut)
    assert tracker.find(np.full_like(astronaut, 128)) is None
    assert tracker.last is None


def test_a_point_picks_which_of_two_faces_is_followed(astronaut, face_provider):
    two = np.concatenate([astronaut, astronaut], axis=1)
    left = FaceTracker(face_provider, point=(220.0, 130.0)).find(two)
    right = FaceTracker(face_provider, point=(732.0, 130.0)).find(two)
    assert left.box[2] < 512 < right.box[0]


def test_the_provider_is_swapped_by_naming_a_class(monkeypatch):
    class Named(LandmarkProvider):
        name = "named"

        def detect(self, grey, upsample=0):
            return []

        def landmarks(self, grey, box):
            return np.zeros((68, 2), np.float32)

        def version(self):
            return "named-1"

    monkeypatch.setattr(landmarks_module, "Named", Named, raising=False)
    monkeypatch.setenv("FRAMEBRIDGE_FACE_PROVIDER", f"{landmarks_module.__name__}:Named")
    monkeypatch.setattr(landmarks_module, "_LOADED", {})
    assert landmark_provider().version() == "named-1"


def test_an_unknown_provider_is_a_typed_error(monkeypatch):
    monkeypatch.setattr(landmarks_module, "_LOADED", {})
    with pytest.raises(InvalidParams, match="unknown face landmark provider"):
        landmark_provider("nobody")
