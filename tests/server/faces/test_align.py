"""Similarity transforms and their Procrustes fit, checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from framebridge.server.faces.align import Similarity, fit_similarity

SQUARE = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]])


def test_apply_rotates_scales_and_moves_a_point():
    quarter_turn = Similarity(2.0, math.pi / 2, (1.0, 1.0))
    # (1, 0) turned 90 degrees is (0, 1), doubled (0, 2), moved (1, 3).
    assert quarter_turn.apply(np.array([[1.0, 0.0]]))[0] == pytest.approx([1.0, 3.0], abs=1e-6)


def test_fit_recovers_a_known_similarity_exactly():
    known = Similarity(1.5, math.radians(10.0), (4.0, -2.0))
    fitted = fit_similarity(SQUARE, known.apply(SQUARE))
    assert fitted.scale == pytest.approx(1.5)
    assert math.degrees(fitted.angle) == pytest.approx(10.0)
    assert fitted.translation == pytest.approx((4.0, -2.0))


def test_inverse_and_then_undo_each_other():
    motion = Similarity(0.8, 0.3, (5.0, 7.0))
    round_trip = motion.then(motion.inverse())
    assert round_trip.apply(SQUARE) == pytest.approx(SQUARE.astype(np.float32), abs=1e-5)


def test_conjugate_keeps_the_angle_and_scale_of_a_motion():
    turn = Similarity(1.1, math.radians(10.0), (3.0, 0.0))
    frame = Similarity(0.5, math.radians(-30.0), (100.0, 50.0))
    moved = turn.conjugate(frame)
    assert math.degrees(moved.angle) == pytest.approx(10.0)
    assert moved.scale == pytest.approx(1.1)
    # The motion seen in the other frame: map in, move, map out.
    point = np.array([[12.0, -4.0]])
    expected = frame.apply(turn.apply(frame.inverse().apply(point)))
    assert moved.apply(point) == pytest.approx(expected, abs=1e-4)


def test_power_takes_a_fraction_of_a_turn_about_a_fixed_centre():
    centre = np.array([10.0, 10.0])
    turn = Similarity(1.0, math.radians(20.0)).conjugate(Similarity(1.0, 0.0, (10.0, 10.0)))
    half = turn.power(0.5, about=centre)
    assert math.degrees(half.angle) == pytest.approx(10.0)
    assert half.apply(centre[None])[0] == pytest.approx(centre, abs=1e-5)
    assert turn.power(0.0).apply(SQUARE) == pytest.approx(SQUARE.astype(np.float32))
