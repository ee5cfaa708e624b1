"""A picture of one line: the waveform, its phones, and the cue track under it (and the ground truth's, when known)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from framebridge.protocol.errors import MediaError
from framebridge.protocol.files import atomic_path

from .phones import VOWELS, Phone
from .rules import OPENNESS, SHAPES, Cue

__all__ = ["draw_cue_track"]

# One colour per shape (BGR), from closed (dark) to wide open (bright), X grey.
_COLOURS = {"A": (60, 40, 160), "B": (60, 120, 200), "C": (60, 190, 230), "D": (80, 240, 250), "E": (120, 200, 90),
            "F": (200, 160, 60), "G": (180, 80, 160), "H": (150, 150, 230), "X": (90, 90, 90)}


def _x(seconds: float, duration: float, left: int, width: int) -> int:
    return left + int(round(seconds / duration * width))


def draw_cue_track(path: str | Path, samples: np.ndarray, sample_rate: int, phones: Sequence[Phone],
                   tracks: Sequence[tuple[str, Sequence[Cue]]], *, title: str = "", width: int = 1600) -> Path:
    """Waveform, phone labels and one row per cue track (label, cues), with a time axis; written atomically as PNG."""
    import cv2

    duration = max(len(samples) / sample_rate, 1e-3)
    left, right, top = 110, 20, 34
    plot = width - left - right
    wave_height, phone_height, track_height, axis = 150, 34, 44, 30
    height = top + wave_height + phone_height + len(tracks) * (track_height + 6) + axis
    image = np.full((height, width, 3), 250, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, title, (left, 22), font, 0.6, (20, 20, 20), 1, cv2.LINE_AA)
    # Waveform: the min..max envelope per pixel column.
    centre = top + wave_height // 2
    columns = np.array_split(np.asarray(samples, dtype=np.float32), plot) if len(samples) >= plot else [samples]
    peak = float(np.max(np.abs(samples))) or 1.0
    for index, chunk in enumerate(columns):
        if len(chunk):
            x = left + int(index * plot / len(columns))
            low, high = float(chunk.min()) / peak, float(chunk.max()) / peak
            cv2.line(image, (x, centre - int(high * wave_height * 0.45)), (x, centre - int(low * wave_height * 0.45)),
                     (120, 80, 40), 1)
    cv2.putText(image, "waveform", (8, centre), font, 0.45, (40, 40, 40), 1, cv2.LINE_AA)
    # Phones: a tick at each start and the label, vowels bold.
    y = top + wave_height
    cv2.putText(image, "phones", (8, y + 22), font, 0.45, (40, 40, 40), 1, cv2.LINE_AA)
    for phone in phones:
        x0 = _x(phone.start, duration, left, plot)
        cv2.line(image, (x0, top), (x0, y + phone_height - 4), (200, 200, 200), 1)
        thickness = 2 if phone.label in VOWELS else 1
        cv2.putText(image, phone.label, (x0 + 2, y + 22), font, 0.38, (30, 30, 30), thickness, cv2.LINE_AA)
    # Cue tracks: one coloured box per cue, its shape letter inside.
    y += phone_height
    for label, cues in tracks:
        cv2.putText(image, label, (8, y + track_height // 2 + 5), font, 0.45, (40, 40, 40), 1, cv2.LINE_AA)
        for cue in cues:
            x0, x1 = _x(cue.start / 100, duration, left, plot), _x(cue.end / 100, duration, left, plot)
            fill = _COLOURS[cue.shape]
            opening = int(OPENNESS[cue.shape] * (track_height - 8))
            cv2.rectangle(image, (x0, y), (max(x0 + 1, x1 - 1), y + track_height), fill, -1)
            cv2.rectangle(image, (x0, y + track_height - 4 - opening), (max(x0 + 1, x1 - 1), y + track_height - 4),
                          tuple(max(0, c - 50) for c in fill), -1)
            if x1 - x0 >= 10:
                cv2.putText(image, cue.shape, (x0 + 2, y + 16), font, 0.45, (10, 10, 10), 1, cv2.LINE_AA)
        y += track_height + 6
    # Time axis in 0.1 s ticks, labelled every 0.5 s.
    for tenth in range(int(duration * 10) + 1):
        x = _x(tenth / 10, duration, left, plot)
        cv2.line(image, (x, y), (x, y + (8 if tenth % 5 == 0 else 4)), (60, 60, 60), 1)
        if tenth % 5 == 0:
            cv2.putText(image, f"{tenth / 10:.1f}s", (x - 12, y + 22), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    legend = "  ".join(f"{shape}" for shape in SHAPES)
    cv2.putText(image, f"shapes {legend}", (width - 300, 22), font, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    path = Path(path)
    with atomic_path(path) as temporary:
        if not cv2.imwrite(str(temporary), image):
            raise MediaError(f"could not write {path}")
    return path
