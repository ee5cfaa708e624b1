"""Rhubarb's rules: phones to mouth cues at 1/100 s, then one shape and shape weights per frame."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.protocol.errors import InvalidParams
from framebridge.server.lipsync.audio import FrameClock
from framebridge.server.lipsync.phones import Phone
from framebridge.server.lipsync.rules import Cue, animate, frame_shapes, frame_weights, mouth_open, shape_at


def phones(*items: tuple[str, float, float]) -> list[Phone]:
    return [Phone(label, start, end) for label, start, end in items]


def test_silence_gives_rest_x():
    assert animate([], 1.0) == [Cue(0, 100, "X")]


def test_p_gets_an_a_closure_before_its_release():
    cues = animate(phones(("AA", 0.30, 0.60), ("P", 0.60, 0.70), ("AA", 0.70, 1.00)), 1.5)
    assert shape_at(cues, 0.58) == "A"
    assert shape_at(cues, 0.35) == "D"
    closure = next(cue for cue in cues if cue.shape == "A")
    assert 4 <= 60 - closure.start <= 12


def test_m_closes_the_mouth_and_f_v_touch_teeth_to_lip():
    cues = animate(phones(("M", 0.2, 0.35), ("AA", 0.35, 0.6), ("F", 0.6, 0.75), ("AA", 0.75, 1.0)), 1.3)
    assert shape_at(cues, 0.28) == "A"
    assert shape_at(cues, 0.7) == "G"


def test_ah_is_c_when_short_and_d_when_long():
    short = animate(phones(("AH", 0.3, 0.45)), 1.0)
    long = animate(phones(("AH", 0.3, 0.65)), 1.0)
    assert shape_at(short, 0.4) == "C" and shape_at(long, 0.5) == "D"


def test_diphthong_ow_splits_e_then_f():
    cues = animate(phones(("OW", 0.2, 0.7)), 1.2)
    assert shape_at(cues, 0.3) == "E" and shape_at(cues, 0.6) == "F"


def test_a_short_pause_holds_or_relaxes_and_a_long_one_rests():
    held = animate(phones(("AA", 0.1, 0.4), ("AA", 0.48, 0.8)), 1.2)
    assert shape_at(held, 0.44) != "X"
    rested = animate(phones(("AA", 0.1, 0.4), ("AA", 1.0, 1.3)), 1.6)
    assert shape_at(rested, 0.7) == "X"


def test_a_tween_goes_between_wide_open_and_closed():
    cues = animate(phones(("AA", 0.1, 0.6), ("M", 0.6, 0.9)), 1.2)
    shapes = [cue.shape for cue in cues]
    assert shapes[shapes.index("D") + 1] == "C"


def test_shapes_the_rig_lacks_fall_back_to_basic_shapes():
    cues = animate(phones(("F", 0.2, 0.4), ("L", 0.5, 0.8)), 1.2, extended="")
    assert {cue.shape for cue in cues} <= set("ABCDEF")
    assert shape_at(cues, 1.1, "") == "A"
    with pytest.raises(InvalidParams, match="extended_shapes"):
        animate([], 1.0, extended="Q")


def test_cues_cover_the_duration_truncated_to_centiseconds_without_gaps():
    cues = animate(phones(("HH", 0.05, 0.12), ("AY", 0.12, 0.4)), 0.479)
    assert cues[0].start == 0 and cues[-1].end == 47
    assert all(a.end == b.start and a.shape != b.shape for a, b in zip(cues, cues[1:]))


def test_frame_shapes_keep_a_closure_shorter_than_a_frame():
    cues = [Cue(0, 20, "D"), Cue(20, 24, "A"), Cue(24, 60, "D")]
    shapes = frame_shapes(cues, FrameClock(24, 1), list(range(1, 16)))
    assert "A" in shapes
    assert shapes[0] == "D" and shapes[-1] == "X"


def test_frame_weights_sum_to_one_and_blend_across_a_change():
    cues = [Cue(0, 50, "A"), Cue(50, 100, "D")]
    weights = frame_weights(cues, FrameClock(24, 1), list(range(1, 25)))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    opening = mouth_open(weights)
    assert opening[0] == 0.0 and opening[-2] == pytest.approx(1.0)
    assert 0.0 < opening[11] < 1.0
