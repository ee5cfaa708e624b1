"""The cue-track picture: waveform, phones and one row per cue track, written as a PNG."""

from __future__ import annotations

import cv2
import numpy as np

from framebridge.server.lipsync.phones import Phone
from framebridge.server.lipsync.picture import draw_cue_track
from framebridge.server.lipsync.rules import Cue


def test_picture_draws_one_row_per_track_with_the_shape_colours(tmp_path):
    samples = np.sin(np.linspace(0, 400, 16000)).astype(np.float32)
    cues = [Cue(0, 40, "X"), Cue(40, 80, "D"), Cue(80, 100, "A")]
    path = draw_cue_track(tmp_path / "track.png", samples, 16000, [Phone("AA", 0.4, 0.8), Phone("M", 0.8, 1.0)],
                          [("cues", cues), ("truth", cues)], title="test", width=800)
    image = cv2.imread(str(path))
    assert image.shape[1] == 800 and image.shape[0] > 250
    one_track = draw_cue_track(tmp_path / "one.png", samples, 16000, [], [("cues", cues)], width=800)
    assert cv2.imread(str(one_track)).shape[0] == image.shape[0] - 50
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20
