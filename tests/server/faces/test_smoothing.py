"""One-Euro smoothing: a still point stops jittering, a moving one keeps up."""

from __future__ import annotations

import numpy as np

from framebridge.server.faces.smoothing import OneEuroFilter, filter_for_strength


def _jitter(track: np.ndarray) -> float:
    """RMS frame-to-frame acceleration: what the eye sees as jitter, blind to smooth motion."""
    return float(np.sqrt(np.mean(np.diff(track, n=2, axis=0) ** 2)))


def test_jitter_on_a_still_point_shrinks_more_than_twofold():
    rng = np.random.default_rng(3)
    smoother = filter_for_strength(0.5, face_size=200.0)
    noisy = 100.0 + rng.normal(0.0, 1.0, (48, 2))
    smoothed = np.array([smoother(value, float(t)) for t, value in enumerate(noisy)])
    assert _jitter(smoothed) < _jitter(noisy) / 2.5


def test_a_steady_motion_is_followed_with_little_lag():
    smoother = filter_for_strength(0.5, face_size=200.0)
    path = [np.array([5.0 * t, 0.0]) for t in range(40)]
    smoothed = [smoother(value, float(t)) for t, value in enumerate(path)]
    assert abs(smoothed[-1][0] - path[-1][0]) < 5.0


def test_zero_strength_means_no_filter_and_a_reset_starts_over():
    assert filter_for_strength(0.0) is None
    smoother = OneEuroFilter(min_cutoff=0.05, beta=0.0)
    smoother(np.zeros(2), 0.0)
    smoother.reset()
    assert smoother(np.full(2, 7.0), 1.0).tolist() == [7.0, 7.0]
