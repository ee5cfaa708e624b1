"""Op params from the FrameBridge node's knob values, frame ranges and keyframes, without Nuke."""

import pytest

from framebridge.nuke_plugin.core.requests import (
    BridgeSettings,
    build_params,
    choose_frames,
    conditions_from_knobs,
    knob_states,
    settings_from_knobs,
)
from framebridge.protocol.errors import InvalidParams


def test_frames_come_from_the_input_or_the_custom_range():
    assert choose_frames("input", 1001, 1004, "ignored") == [1001, 1002, 1003, 1004]
    assert choose_frames("custom", 1, 100, "5-6") == [5, 6]
    assert choose_frames("custom", 1, 100, "1001-1003 1010,1020-1030x5") == [1001, 1002, 1003, 1010, 1020, 1025, 1030]
    with pytest.raises(InvalidParams, match="empty"):
        choose_frames("custom", 1, 100, "")
    with pytest.raises(InvalidParams, match="unknown frame range mode"):
        choose_frames("shot", 1, 2, "")


def test_ticked_conditions_carry_their_weights():
    values = {"cond_depth": True, "cond_depth_weight": 0.7, "cond_canny": True, "cond_normal": False, "cond_normal_weight": 2.0}
    assert conditions_from_knobs(values) == {"depth": 0.7, "canny": 1.0}


def test_animated_knobs_become_keyframes_and_seeds_whole_numbers():
    settings = settings_from_knobs({
        "op": "restyle", "prompt": "oil painting", "strength": {1: 0.25, 2: 0.5}, "seed": {1: 7.0, 2: 7.0},
        "temporal": True, "temporal_strength": {1: 0.8, 2: 0.8}, "cond_depth": True, "look": "paint", "palette": "sepia",
    })
    params = build_params(settings)
    assert params == {
        "prompt": "oil painting", "negative_prompt": "", "strength": {"1": 0.25, "2": 0.5}, "seed": 7,
        "conditions": {"depth": 1.0}, "temporal": True, "temporal_strength": 0.8, "look": "paint", "palette": "sepia",
    }
    assert isinstance(params["seed"], int)


def test_restyle_on_another_backend_leaves_out_the_cpu_looks_and_temporal_strength_when_off():
    params = build_params(BridgeSettings(backend="diffusers", temporal=False))
    assert "look" not in params and "palette" not in params and "temporal_strength" not in params
    assert params["temporal"] is False


def test_extract_sends_the_condition_names_and_needs_one():
    assert build_params(BridgeSettings(op="extract", conditions={"normal": 1.0, "depth": 0.5})) == {
        "conditions": ["depth", "normal"], "normal_space": "camera"}
    with pytest.raises(InvalidParams, match="at least one condition"):
        build_params(BridgeSettings(op="extract"))


def test_echo_sends_only_the_extra_params():
    settings = settings_from_knobs({"op": "echo", "extra_params": '{"delay": 0.1}'})
    assert build_params(settings) == {"delay": 0.1}


def test_extra_params_override_and_must_be_a_json_object():
    assert build_params(BridgeSettings(extra={"steps": 4, "look": "toon"}))["look"] == "toon"
    with pytest.raises(InvalidParams, match="JSON object"):
        settings_from_knobs({"extra_params": "[1, 2]"})


@pytest.mark.parametrize("values, message", [
    ({"op": "paint"}, "unknown op"),
    ({"look": "neon"}, "look 'neon'"),
    ({"palette": "rainbow"}, "palette"),
    ({"normal_space": "object"}, "normal_space"),
])
def test_unknown_choices_are_refused(values, message):
    with pytest.raises(InvalidParams, match=message):
        settings_from_knobs(values)


def test_knob_states_follow_op_and_switches():
    restyle = knob_states({"op": "restyle", "temporal": False, "range_mode": "input", "cond_depth": True})
    assert restyle["prompt"] and not restyle["temporal_strength"] and not restyle["frames"]
    assert restyle["cond_depth_weight"] and not restyle["cond_canny_weight"] and not restyle["normal_space"]
    extract = knob_states({"op": "extract", "range_mode": "custom", "cond_depth": True})
    assert not extract["prompt"] and extract["normal_space"] and extract["frames"] and extract["cond_depth"]
    assert not extract["cond_depth_weight"]
    echo = knob_states({"op": "echo"})
    assert not echo["cond_depth"] and not echo["strength"]
