"""A shot's working space (e.g. Nuke under ACEScg): converted to linear Rec.709 on the way in and back on the way out."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.protocol import passes
from framebridge.protocol.errors import InvalidParams
from framebridge.server.colour import WorkingSpace, display_to_linear, working_space
from framebridge.server.ops.base import InputFrame, JobContext
from framebridge.server.ops.restyle import RestyleOp

CG_CONFIG = "ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1"
ACESCG = {"working_space": "ACEScg", "ocio_config": CG_CONFIG}


def test_acescg_primaries_become_linear_rec709_and_come_back():
    space = working_space({"colour": ACESCG})
    assert isinstance(space, WorkingSpace) and space.linear == "Linear Rec.709 (sRGB)"
    green = np.array([[[0.0, 1.0, 0.0, 0.5]]], np.float32)
    linear = space.to_linear(green)
    # ACEScg's green is outside Rec.709: red goes negative; alpha is not touched.
    assert linear[0, 0, 0] < -0.1 and linear[0, 0, 1] > 1.0 and linear[0, 0, 3] == 0.5
    np.testing.assert_allclose(space.from_linear(linear), green, atol=1e-5)
    assert working_space({}) is None
    assert working_space({"colour": {"working_space": "lin_rec709_srgb", "ocio_config": CG_CONFIG}}) is None


@pytest.mark.parametrize("colour, message", [
    ({"working_space": "ACES - NotASpace", "ocio_config": CG_CONFIG}, "not in the OCIO config"),
    ({"working_space": "ACEScg", "ocio_config": "/nowhere/config.ocio"}, "cannot read the OpenColorIO config"),
    ({"working_space": 3}, "shot colour must be"),
])
def test_a_bad_shot_colour_is_refused_before_any_frame(tmp_path, colour, message):
    with pytest.raises(InvalidParams, match=message):
        RestyleOp(cache_dir=tmp_path).prepare({"prompt": "x"}, {"colour": colour}, [1], "cpu")


def _restyle(op: RestyleOp, beauty: np.ndarray, shot: dict) -> np.ndarray:
    plan = op.prepare({"prompt": "ink", "strength": 0.8, "temporal": False, "cache": False}, shot, [1], "cpu")
    context = JobContext(job_id="colour", frames=[1], shot=shot, cancelled=lambda: False)
    (output,) = list(op.run(plan, iter([InputFrame(1, {passes.BEAUTY: beauty})]), context))
    return np.asarray(output.buffers[passes.BEAUTY], np.float32)


def test_restyle_under_acescg_sees_the_same_colours_as_under_linear_rec709(tmp_path):
    rng = np.random.default_rng(4)
    linear = np.concatenate([display_to_linear(rng.uniform(0.1, 0.9, (32, 48, 3)).astype(np.float32)),
                             np.ones((32, 48, 1), np.float32)], axis=2)
    space = working_space({"colour": ACESCG})
    in_acescg = space.from_linear(linear)
    expected = _restyle(RestyleOp(cache_dir=tmp_path), linear, {})
    result = _restyle(RestyleOp(cache_dir=tmp_path), in_acescg, {"colour": ACESCG})
    np.testing.assert_allclose(space.to_linear(result), expected, atol=2e-3)
    assert np.abs(result - expected).max() > 0.02  # the result really is in ACEScg, not linear Rec.709
