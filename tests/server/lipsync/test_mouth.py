"""Cue shapes on the 68 landmarks: the targets they set and the landmarks that reach them."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.server.lipsync.mouth import SHAPE_TARGETS, blend_shape, inner_gap, mouth_width, shaped_landmarks
from framebridge.server.lipsync.plate import SHAPES


def test_every_cue_shape_has_a_target_and_blends_normalise():
    assert set(SHAPE_TARGETS) == set(SHAPES)
    assert blend_shape({"D": 2.0, "A": 2.0}).openness == pytest.approx((SHAPE_TARGETS["D"].openness + SHAPE_TARGETS["A"].openness) / 2)
    assert blend_shape({}) == SHAPE_TARGETS["X"]
    assert blend_shape({"Q": 1.0}) == SHAPE_TARGETS["X"]


@pytest.mark.parametrize("shape", list("ABCDEFGHX"))
def test_shaped_landmarks_reach_the_shapes_openness_and_width(astronaut_face, shape):
    landmarks = astronaut_face.landmarks
    neutral = mouth_width(landmarks)
    target = SHAPE_TARGETS[shape]
    moved = shaped_landmarks(landmarks, target, neutral)
    assert inner_gap(moved) == pytest.approx(target.openness * neutral * 0.9, abs=0.08 * neutral)
    assert mouth_width(moved) == pytest.approx(target.width * neutral, rel=0.02)
    assert np.array_equal(moved[17:48], landmarks[17:48])  # brows, nose, eyes stay


def test_rotated_faces_open_along_their_own_axis(astronaut_face):
    landmarks = astronaut_face.landmarks
    angle = np.radians(30.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = (landmarks @ rotation.T).astype(np.float32)
    moved = shaped_landmarks(turned, SHAPE_TARGETS["D"], mouth_width(turned))
    drop = moved[57] - turned[57]
    direction = turned[8] - turned[27]
    cosine = drop @ direction / (np.linalg.norm(drop) * np.linalg.norm(direction))
    assert cosine > 0.95


def test_amount_zero_changes_nothing(astronaut_face):
    landmarks = astronaut_face.landmarks
    moved = shaped_landmarks(landmarks, SHAPE_TARGETS["F"], mouth_width(landmarks), amount=0.0)
    np.testing.assert_allclose(moved, landmarks, atol=1e-3)
