"""The lip-sync tool's pure logic: mono audio, request params, Rhubarb JSON, which keys to set, which keys are ours."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.blender_addon.lipsync_keys import (
    FrameCues,
    OwnedKeys,
    data_path,
    frame_cues_from_rhubarb,
    lipsync_params,
    mono,
    parse_rhubarb_json,
    plan_keys,
)
from framebridge.protocol.errors import InvalidParams, MediaError

IDENTITY = {shape: shape for shape in "ABCDEFGHX"}


def cues(shapes: str, start: int = 1) -> FrameCues:
    weights = {}
    for index, shape in enumerate(shapes):
        row = [0.0] * 9
        row["ABCDEFGHX".index(shape)] = 1.0
        weights[start + index] = tuple(row)
    return FrameCues({start + index: shape for index, shape in enumerate(shapes)}, weights)


def test_mono_mixes_channels_and_keeps_float32():
    audio = mono(np.array([[1.0, 0.0], [0.5, 0.5]], np.float64))
    assert audio.dtype == np.float32 and audio.tolist() == [0.5, 0.5]
    with pytest.raises(MediaError):
        mono(np.zeros((2, 2, 2)))


def test_params_carry_rate_timing_and_a_transcript_only_when_given():
    params = lipsync_params(44100.0, 24, 1001, transcript="  ", offset=0.25)
    assert params["sample_rate"] == 44100 and params["start_frame"] == 1001 and params["offset"] == 0.25
    assert "transcript" not in params
    assert lipsync_params(16000, 25, 1, transcript="Hi there")["transcript"] == "Hi there"


def test_constant_keys_step_at_each_shape_change_inside_the_range():
    plan = plan_keys(cues("XXDDAAX"), IDENTITY, "CONSTANT", range(1, 8))
    assert plan["D"] == [(1, 0.0), (3, 1.0), (5, 0.0), (7, 0.0)]
    assert plan["A"] == [(1, 0.0), (5, 1.0), (7, 0.0)]
    assert plan["X"][0] == (1, 1.0)
    assert all(frame in range(1, 8) for keys in plan.values() for frame, _ in keys)
    assert plan_keys(cues("XXDDAAX"), IDENTITY, "CONSTANT", range(3, 5))["D"] == [(3, 1.0), (4, 1.0)]


def test_shapes_sharing_a_key_add_up_and_unmapped_shapes_are_left_out():
    mapping = {**IDENTITY, "A": "Closed", "X": "Closed", "D": ""}
    plan = plan_keys(cues("XADX"), mapping, "CONSTANT", range(1, 5))
    assert "D" not in plan and "A" not in plan
    assert plan["Closed"] == [(1, 1.0), (3, 0.0), (4, 1.0)]


def test_crossfade_keys_follow_the_weights():
    frame_cues = FrameCues({1: "A", 2: "D", 3: "D"}, {1: (1.0,) + (0.0,) * 8, 2: (0.5, 0, 0, 0.5) + (0.0,) * 5,
                                                      3: (0.0, 0, 0, 1.0) + (0.0,) * 5})
    plan = plan_keys(frame_cues, IDENTITY, "CROSSFADE", range(1, 4))
    assert plan["A"] == [(1, 1.0), (2, 0.5), (3, 0.0)]
    assert plan["D"] == [(1, 0.0), (2, 0.5), (3, 1.0)]
    with pytest.raises(InvalidParams, match="style"):
        plan_keys(frame_cues, IDENTITY, "SMOOTH", range(1, 4))
    with pytest.raises(InvalidParams, match="unknown shapes"):
        plan_keys(frame_cues, {"Q": "A"}, "CONSTANT", range(1, 4))


def test_rhubarb_json_becomes_one_shape_per_frame_and_blended_weights():
    text = '{"metadata": {"duration": 0.5}, "mouthCues": [{"start": 0.0, "end": 0.2, "value": "X"}, ' \
           '{"start": 0.2, "end": 0.5, "value": "D"}]}'
    timed = parse_rhubarb_json(text)
    assert timed == [(0.0, 0.2, "X"), (0.2, 0.5, "D")]
    frame_cues = frame_cues_from_rhubarb(timed, 10.0, 101, range(101, 106))
    assert [frame_cues.shapes[n] for n in range(101, 106)] == ["X", "X", "D", "D", "D"]
    assert sum(frame_cues.weights[102]) == pytest.approx(1.0) and frame_cues.weights[102][3] == 0.25
    with pytest.raises(MediaError, match="not a Rhubarb JSON"):
        parse_rhubarb_json("{}")
    with pytest.raises(MediaError, match="not a valid mouth cue"):
        parse_rhubarb_json('{"mouthCues": [{"start": 0.0, "end": 0.2, "value": "Q"}]}')


def test_owned_keys_remember_only_what_this_tool_wrote():
    owned = OwnedKeys()
    text = owned.record({"A": [(10, 1.0), (12, 0.0)]})
    again = OwnedKeys(text)
    assert again.owns(data_path("A"), 10.0) and not again.owns(data_path("A"), 11.0)
    assert not again.owns(data_path("Smile"), 10.0)
    assert OwnedKeys("not json").frames == {}
