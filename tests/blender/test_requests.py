"""Op params and the shot dict from panel values, without Blender."""

import numpy as np
import pytest

from framebridge.blender_addon.requests import ShotSettings, build_params, fit_to_op, prompt_schedule, shot_with_depth_range
from framebridge.protocol.errors import InvalidParams


def test_params_carry_keyframes_and_condition_weights():
    settings = ShotSettings(prompt="oil painting", strength={1: 0.3, 2: 0.3, 3: 0.6}, seed={1: 7, 2: 7, 3: 7},
                            conditions={"depth": 1.0, "pose": 0.8}, temporal=True, temporal_strength=0.4)
    params = build_params(settings)
    assert params["strength"] == {"1": 0.3, "2": 0.3, "3": 0.6}
    assert params["seed"] == 7
    assert params["conditions"] == {"depth": 1.0, "pose": 0.8}
    assert params["temporal_strength"] == 0.4
    assert "temporal_strength" not in build_params(ShotSettings(temporal=False))


def test_unknown_condition_is_refused():
    with pytest.raises(InvalidParams, match="unknown conditions"):
        build_params(ShotSettings(conditions={"halo": 1.0}))


def test_only_params_the_op_declares_are_sent():
    kept, dropped = fit_to_op({"prompt": "x", "seed": 1}, {"params": {"seed": {"type": "int"}}})
    assert kept == {"seed": 1} and dropped == ["prompt"]


def test_prompt_keys_hold_until_the_next_key():
    schedule = prompt_schedule([1, 2, 3, 4], "a city", {3: "a city at night", 4: "a city in snow"})
    assert schedule == {1: "a city", 2: "a city", 3: "a city at night", 4: "a city in snow"}
    assert build_params(ShotSettings(prompt=schedule))["prompt"] == {"1": "a city", "2": "a city", "3": "a city at night", "4": "a city in snow"}


def test_condition_weights_go_to_a_list_param_as_names():
    kept, _ = fit_to_op({"conditions": {"depth": 1.0, "pose": 0.5}}, {"params": {"conditions": {"type": "list[str]"}}})
    assert kept == {"conditions": ["depth", "pose"]}
    kept, _ = fit_to_op({"conditions": {"depth": 1.0}}, {"params": {"conditions": {"type": "dict[str, float]"}}})
    assert kept == {"conditions": {"depth": 1.0}}


def test_extra_params_are_merged_last():
    assert build_params(ShotSettings(strength=0.2, extra={"look": "watercolour", "strength": 0.9}))["strength"] == 0.9


def test_shot_carries_the_depth_range_of_every_frame_not_just_the_first():
    first = np.full((4, 4), 10.0, dtype=np.float32)
    first[0, 0] = 1e10  # background (the world) is not part of the range
    second = first.copy()
    second[1:3, 1:3] = 2.0  # a nearer object enters on the second frame
    shot = shot_with_depth_range({"fps": 24.0}, iter([first, second]))
    assert shot == {"fps": 24.0, "depth_range": [2.0, 10.0]}


def test_shot_without_foreground_depth_has_no_depth_range():
    assert shot_with_depth_range({"fps": 24.0}, [np.full((2, 2), 1e10, dtype=np.float32)]) == {"fps": 24.0}
    assert shot_with_depth_range({"fps": 24.0}, []) == {"fps": 24.0}
