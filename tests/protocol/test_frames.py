"""Frame range text as Blender, Nuke and `framebridge run` users type it, keyframes and extra params."""

import pytest

from framebridge.protocol.errors import InvalidParams
from framebridge.protocol.frames import collapse_keyframes, frame_range, parse_extra_params, parse_frames


def test_ranges_are_inclusive_with_either_hosts_step():
    assert parse_frames("1-3,7,10-20:5") == [1, 2, 3, 7, 10, 15, 20]
    assert parse_frames("1-3,7,10-20x5") == [1, 2, 3, 7, 10, 15, 20]
    assert parse_frames("5-7:2") == [5, 7]
    assert parse_frames("1-5x2,8") == [1, 3, 5, 8]
    assert parse_frames("5") == [5]
    assert frame_range(-2, 1) == [-2, -1, 0, 1]


def test_items_split_on_commas_or_spaces_and_keep_their_order():
    assert parse_frames("1001-1003 1010") == [1001, 1002, 1003, 1010]
    assert parse_frames(" 10 - 20 x 5, 3 ") == [10, 15, 20, 3]
    assert parse_frames("-5--3, -1") == [-5, -4, -3, -1]


@pytest.mark.parametrize("text, message", [
    ("a-b", "not like '1-3', '7', '10-20x5' or '10-20:5'"), ("one-three", "not like"), ("1,,2", "not like"),
    ("5x2", "not like"), ("", "empty"), ("  ", "empty"), ("5-1", "before it starts"), ("3-1", "ends"),
    ("1-5x0", "step"), ("3,3,2", r"repeats frames \[3\]"), ("1-3,2", r"repeats frames \[2\]"),
])
def test_bad_frame_ranges_are_refused(text, message):
    with pytest.raises(InvalidParams, match=message):
        parse_frames(text)


def test_unchanging_samples_collapse_to_a_scalar_and_changing_ones_to_string_keys():
    assert collapse_keyframes({1: 0.5, 2: 0.5}) == 0.5
    assert collapse_keyframes({2: 0.7, 1: 0.5, 10: 0.9}) == {"1": 0.5, "2": 0.7, "10": 0.9}
    with pytest.raises(InvalidParams, match="no frames"):
        collapse_keyframes({})


def test_extra_params_must_be_a_json_object():
    assert parse_extra_params('{"look": "watercolour", "strength": 0.9}') == {"look": "watercolour", "strength": 0.9}
    assert parse_extra_params("  ") == {}
    with pytest.raises(InvalidParams, match="not valid JSON"):
        parse_extra_params("{steps: 4}")
    with pytest.raises(InvalidParams, match="JSON object"):
        parse_extra_params("[1, 2]")
