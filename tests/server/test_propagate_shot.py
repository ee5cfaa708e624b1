"""Reading a propagate frame: non-finite values are refused by buffer, huge finite ones are not."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.protocol import passes
from framebridge.protocol.errors import NonFiniteValues
from framebridge.server.propagate.shot import read_shot_frame


def frame_buffers(height=40, width=64):
    rng = np.random.default_rng(2)
    return {passes.BEAUTY: rng.random((height, width, 4), dtype=np.float32),
            passes.MOTION_BACKWARD: rng.normal(0, 2, (height, width, 2)).astype(np.float32),
            passes.MOTION_FORWARD: rng.normal(0, 2, (height, width, 2)).astype(np.float32),
            passes.OBJECT_INDEX: rng.integers(0, 3, (height, width)).astype(np.float32)}


@pytest.mark.parametrize("name, value", [(passes.BEAUTY, np.nan), (passes.BEAUTY, -np.inf), (passes.MOTION_BACKWARD, np.inf),
                                         (passes.MOTION_FORWARD, np.nan), (passes.OBJECT_INDEX, np.nan)])
def test_a_non_finite_value_anywhere_is_refused_naming_its_buffer(name, value):
    buffers = frame_buffers()
    buffers[name].reshape(-1)[1234] = value
    with pytest.raises(NonFiniteValues) as raised:
        read_shot_frame(7, buffers, (40, 64))
    assert raised.value.details["buffer"] == name


def test_finite_values_whose_row_sums_overflow_are_accepted():
    buffers = frame_buffers()
    buffers[passes.BEAUTY][3] = np.finfo(np.float32).max  # a row summing past float32's range: every value checked instead
    buffers[passes.MOTION_BACKWARD][5, :, 0] = -np.finfo(np.float32).max
    frame = read_shot_frame(7, buffers, (40, 64))
    assert frame.render.shape == (40, 64, 4)


def test_the_working_size_look_is_the_render_encoded():
    buffers = frame_buffers()
    buffers[passes.BEAUTY][0, 0, :3] = (-1.0, 4.0, 0.25)
    frame = read_shot_frame(7, buffers, (40, 64))
    np.testing.assert_allclose(frame.work_look, np.sqrt(np.clip(buffers[passes.BEAUTY][..., :3], 0, 1)), rtol=1e-6)
