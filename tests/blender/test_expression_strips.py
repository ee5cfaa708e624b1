"""Expression on Sequencer strips, pure part: shown files, pairing, params, the channel above the plate."""

from __future__ import annotations

import os

import numpy as np
import pytest

from framebridge.blender_addon.expression_strips import channel_above, image_strip_frames, plan_expression, srgb_to_linear
from framebridge.protocol.errors import InvalidParams


def test_a_trimmed_image_strip_shows_its_elements_from_its_start():
    shown = image_strip_frames("/plates", ["a.png", "b.png", "c.png", "d.png"], frame_start=10, final_start=11, final_end=13)
    assert shown == {11: os.path.join("/plates", "b.png"), 12: os.path.join("/plates", "c.png")}


def test_plate_frames_pair_with_the_driver_at_an_offset_and_the_reference_is_its_first_frame():
    plate = {1: "p1", 2: "p2"}
    driver = {11: "d11", 12: "d12", 13: "d13"}
    job = plan_expression(plate, driver, regions={"lips", "pose"}, offset=10)
    assert job.frames == [1, 2] and job.driving == {1: "d11", 2: "d12"} and job.reference == "d11"
    assert job.params == {"regions": ["lips", "pose"], "smoothing": 0.5, "driving_offset": 10, "driving_range": [11, 13]}


@pytest.mark.parametrize("kwargs, message", [
    ({"regions": set()}, "no region"),
    ({"regions": {"lips"}, "offset": 5}, "has no frame for plate frames"),
    ({"regions": {"lips"}, "reference_frame": 40}, "not shown by the driver"),
    ({"regions": {"lips"}, "multipliers": {"lips": float("inf")}}, "finite"),
])
def test_bad_choices_are_typed_errors(kwargs, message):
    with pytest.raises(InvalidParams, match=message):
        plan_expression({1: "p1", 2: "p2"}, {1: "d1", 2: "d2"}, **kwargs)


def test_the_result_goes_to_the_first_free_channel_above_the_plate():
    strips = [(1, 1, 25), (2, 1, 25), (3, 30, 40)]
    assert channel_above(1, (1, 25), strips) == 3
    assert channel_above(1, (1, 25), [(1, 1, 25), (2, 30, 40)]) == 2


def test_srgb_bytes_become_linear():
    np.testing.assert_allclose(srgb_to_linear(np.array([0.0, 0.5, 1.0])), [0.0, 0.2140411, 1.0], atol=1e-6)
