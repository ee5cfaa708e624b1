"""Landmark motion transfer with hand-computed values: still drivers, turns, regions, multipliers, absolute mode."""

from __future__ import annotations

import math

import numpy as np
import pytest

from framebridge.server.expression.backend import Motion
from framebridge.server.expression.transfer import head_motion, transfer
from framebridge.server.faces.align import Similarity, fit_similarity
from framebridge.server.faces.regions import EYES, MOUTH, STABLE
from framebridge.server.faces.shapes import open_mouth

ALL = frozenset({"expression", "eyes", "lips", "pose"})


def _motion(regions=ALL, relative=True, **multipliers) -> Motion:
    return Motion(frozenset(regions), multipliers, relative)


@pytest.fixture
def face(astronaut_face) -> np.ndarray:
    return astronaut_face.landmarks.astype(np.float64)


def _turn(points: np.ndarray, degrees: float, about: np.ndarray) -> np.ndarray:
    turn = Similarity(1.0, math.radians(degrees)).conjugate(Similarity(1.0, 0.0, tuple(about)))
    return turn.apply(points).astype(np.float64)


def test_a_driver_that_does_not_move_leaves_the_target_unchanged(face):
    target = Similarity(0.7, 0.2, (40.0, -10.0)).apply(face)
    moved = transfer(target, face, face, _motion())
    np.testing.assert_allclose(moved, target, atol=1e-3)


def test_a_driver_turning_ten_degrees_turns_the_target_ten_degrees(face):
    target = Similarity(0.5, math.radians(-20.0), (300.0, 200.0)).apply(face)
    driving = _turn(face, 10.0, face[list(STABLE)].mean(0))
    moved = transfer(target, driving, face, _motion())
    turned = fit_similarity(target[list(STABLE)], moved[list(STABLE)])
    assert math.degrees(turned.angle) == pytest.approx(10.0, abs=1e-3)
    assert turned.scale == pytest.approx(1.0, abs=1e-4)
    # Without "pose" the same driver moves nothing: a rigid turn is no expression.
    still = transfer(target, driving, face, _motion({"expression", "eyes", "lips"}))
    np.testing.assert_allclose(still, target, atol=1e-3)


def test_head_motion_moves_a_half_size_target_half_as_far(face):
    driving = face + np.array([20.0, 0.0])
    target = Similarity(0.5, 0.0, (10.0, 10.0)).apply(face)
    motion = head_motion(driving, face, target)
    assert motion.translation == pytest.approx((10.0, 0.0), abs=1e-4)


def test_an_opened_mouth_moves_the_target_mouth_scaled_to_its_size(face):
    driving = open_mouth(face, 10.0).astype(np.float64)
    target = Similarity(2.0, 0.0, (0.0, 0.0)).apply(face)
    moved = transfer(target, driving, face, _motion({"lips"}))
    # Chin point 8 drops 10 px in the driver, so 20 px on a face twice the size.
    assert (moved[8] - target[8]) == pytest.approx(2 * (driving[8] - face[8]), abs=0.05)
    np.testing.assert_allclose(moved[list(EYES)], target[list(EYES)], atol=1e-6)


def test_regions_gate_which_points_move(face):
    upper_lids = [37, 38, 43, 44]
    driving = face.copy()
    driving[upper_lids, 1] += 3.0  # a half blink: the eye corners, and so the alignment, stay
    driving = open_mouth(driving, 6.0).astype(np.float64)
    eyes_only = transfer(face, driving, face, _motion({"eyes"}))
    assert np.abs(eyes_only[list(MOUTH)] - face[list(MOUTH)]).max() < 1e-6
    assert eyes_only[upper_lids, 1] - face[upper_lids, 1] == pytest.approx([3.0] * 4, abs=0.3)


def test_a_multiplier_scales_the_change(face):
    driving = open_mouth(face, 8.0).astype(np.float64)
    full = transfer(face, driving, face, _motion({"lips"}))
    half = transfer(face, driving, face, _motion({"lips"}, lips=0.5))
    double = transfer(face, driving, face, _motion({"lips"}, lips=2.0))
    np.testing.assert_allclose(half - face, (full - face) * 0.5, atol=1e-4)
    np.testing.assert_allclose(double - face, (full - face) * 2.0, atol=1e-4)


def test_a_pose_multiplier_turns_a_fraction(face):
    centre = face[list(STABLE)].mean(0)
    driving = _turn(face, 10.0, centre)
    moved = transfer(face, driving, face, _motion({"pose"}, pose=0.5))
    assert math.degrees(fit_similarity(face[list(STABLE)], moved[list(STABLE)]).angle) == pytest.approx(5.0, abs=1e-3)


def test_absolute_mode_takes_the_drivers_shape_not_its_change(face):
    neutral_target = face.copy()
    smiling_reference = open_mouth(face, 5.0).astype(np.float64)
    # The driver is exactly its (open-mouthed) reference: relative moves nothing, absolute copies the open mouth.
    relative = transfer(neutral_target, smiling_reference, smiling_reference, _motion({"lips"}))
    absolute = transfer(neutral_target, smiling_reference, smiling_reference, _motion({"lips"}, relative=False))
    np.testing.assert_allclose(relative, neutral_target, atol=1e-4)
    assert absolute[8][1] - neutral_target[8][1] == pytest.approx(5.0, abs=0.5)
