"""One-Euro filtering of landmark tracks (Casiez, Roussel, Vogel 2012): still faces stop
jittering, fast motion keeps up, and a size change never pops.

The cutoff frequency rises with the speed of the signal: ``cutoff = min_cutoff + beta * |speed|``.
Time is in frames, so the filter behaves the same at any frame rate of the clip.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["OneEuroFilter", "filter_for_strength"]


def _alpha(cutoff: float, step: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / step)


class OneEuroFilter:
    """Filters arrays of any fixed shape, element-wise, one sample per call."""

    def __init__(self, min_cutoff: float, beta: float, derivative_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.derivative_cutoff = min_cutoff, beta, derivative_cutoff
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time = 0.0

    def reset(self) -> None:
        self._value = self._speed = None

    def __call__(self, value: np.ndarray, time: float) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if self._value is None or self._value.shape != value.shape or time <= self._time:
            self._value, self._speed, self._time = value, np.zeros_like(value), time
            return value.astype(np.float32)
        step = time - self._time
        speed = (value - self._value) / step
        self._speed = self._speed + _alpha(self.derivative_cutoff, step) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self._speed)
        tau = 1.0 / (2.0 * np.pi * cutoff)
        alpha = 1.0 / (1.0 + tau / step)
        self._value = self._value + alpha * (value - self._value)
        self._time = time
        return self._value.astype(np.float32)


def filter_for_strength(strength: float, face_size: float = 200.0) -> OneEuroFilter | None:
    """The filter for a smoothing strength in 0..1 (0: none); speeds are judged relative to the face size.

    At strength 0.5 a still landmark's cutoff is 0.05 cycles per frame, and a landmark moving a
    twentieth of the face per frame gets a cutoff of about 1 (it follows without lag).
    """
    if strength <= 0.0:
        return None
    min_cutoff = 0.5 * 10.0 ** (-2.0 * strength)
    return OneEuroFilter(min_cutoff=min_cutoff, beta=20.0 / max(face_size, 1.0), derivative_cutoff=0.3)
