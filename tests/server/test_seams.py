"""Seams between chunks of a temporal restyle, on a panning shot real Blender renders (temporal on, CPU default)."""

from __future__ import annotations

import pytest

from framebridge.protocol import passes
from framebridge.protocol.exr import read_frame
from framebridge.server.chunked import run_chunked
from framebridge.server.chunks import ChunkRule, plan_chunks
from framebridge.server.ops.base import InputFrame
from framebridge.server.ops.restyle import TEMPORAL_CHUNKS, RestyleOp
from framebridge.server.seams import seam_ratio, warp_error

CHUNKS = 6


@pytest.fixture(scope="module")
def pan(panning_render):
    return {number: read_frame(panning_render.path(number)) for number in panning_render.frames}


def seams(pan, rule, tmp_path, params=None):
    op = RestyleOp(cache_dir=tmp_path)
    numbers = sorted(pan)
    plan = op.prepare({"cache": False, **(params or {})}, {}, numbers, "cpu")
    results = run_chunked(op, plan, [InputFrame(number, pan[number]) for number in numbers], CHUNKS, rule)
    starts = {chunk.frames[0] for chunk in plan_chunks(numbers, CHUNKS, rule)[1:]}
    return seam_ratio({number: result.buffers[passes.BEAUTY] for number, result in results.items()}, pan, starts)


@pytest.mark.blender
def test_warm_up_keeps_the_error_at_chunk_boundaries_within_a_quarter_of_the_error_within_chunks(pan, tmp_path):
    with_rule = seams(pan, TEMPORAL_CHUNKS, tmp_path)
    without = seams(pan, ChunkRule(), tmp_path)
    assert with_rule.ratio <= 1.25
    assert without.ratio > 1.5 > 1.25 * with_rule.ratio


@pytest.mark.blender
def test_the_slowest_settling_look_stays_within_the_bound_too(pan, tmp_path):
    assert seams(pan, TEMPORAL_CHUNKS, tmp_path, {"look": "paint", "strength": 1.0}).ratio <= 1.25


def test_the_warp_error_is_zero_for_a_result_that_moves_with_the_render():
    import numpy as np

    image = np.random.default_rng(1).random((16, 24, 3), dtype=np.float32)
    motion = np.zeros((16, 24, 2), np.float32)
    moved = np.roll(image, 1, axis=1)
    frame, previous = {passes.MOTION_BACKWARD: motion - [1, 0]}, {passes.MOTION_FORWARD: motion + [1, 0]}
    assert warp_error(image, moved, frame, previous) == pytest.approx(0.0, abs=1e-6)
    assert warp_error(image, image[:, ::-1].copy(), frame, previous) > 0.1
