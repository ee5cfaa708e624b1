"""Each op's chunk rule: a job run as separate chunks and joined equals one run where the rule says exact, and stays
within the warm-up's bound where it chains."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.chunks import sliding_shot
from framebridge.protocol import passes
from framebridge.server.chunks import ChunkRule, plan_chunks
from framebridge.server.chunked import run_chunked
from framebridge.server.ops.base import OutputFrame
from framebridge.server.ops.propagate import PropagateOp
from framebridge.server.ops.restyle import TEMPORAL_CHUNKS, RestyleOp

FRAMES = list(range(1001, 1025))


def whole_and_chunked(op, params, frames, count, backend=None, job_buffers=None):
    plan = op.prepare(params, {}, [frame.number for frame in frames], backend, dict(job_buffers or {}))
    single = run_chunked(op, plan, frames, 1, ChunkRule(), job_buffers=job_buffers)
    return plan, single, run_chunked(op, plan, frames, count, job_buffers=job_buffers)


def assert_identical(single, chunked):
    assert sorted(chunked) == sorted(single)
    for number, result in single.items():
        assert isinstance(result, OutputFrame) and isinstance(chunked[number], OutputFrame)
        assert sorted(result.buffers) == sorted(chunked[number].buffers)
        for name, array in result.buffers.items():
            np.testing.assert_array_equal(chunked[number].buffers[name], array, err_msg=f"frame {number} {name}")


def test_restyle_with_temporal_off_chunks_exactly(tmp_path):
    op = RestyleOp(cache_dir=tmp_path)
    plan, single, chunked = whole_and_chunked(op, {"temporal": False, "cache": False, "look": "sketch"},
                                              sliding_shot(FRAMES), 3, "cpu")
    assert op.chunking(plan) == ChunkRule()
    assert_identical(single, chunked)


def test_restyle_with_temporal_on_warms_up_and_differs_from_one_chain_only_by_what_the_chain_forgets(tmp_path):
    op = RestyleOp(cache_dir=tmp_path)
    frames = sliding_shot(FRAMES)
    params = {"cache": False, "look": "sketch"}
    plan, single, chunked = whole_and_chunked(op, params, frames, 3, "cpu")
    assert op.chunking(plan) == TEMPORAL_CHUNKS
    cold = run_chunked(op, plan, frames, 3, ChunkRule())

    def worst(results):
        return max(float(np.abs(results[n].buffers[passes.BEAUTY] - single[n].buffers[passes.BEAUTY]).max()) for n in single)

    assert sorted(chunked) == FRAMES
    assert worst(chunked) < 0.5 * worst(cold)


def test_restyle_keyframe_mode_cuts_at_keyframes_and_chunks_exactly(tmp_path):
    op = RestyleOp(cache_dir=tmp_path)
    plan, single, chunked = whole_and_chunked(op, {"keyframe_interval": 6, "cache": False}, sliding_shot(FRAMES), 3, "cpu")
    rule = op.chunking(plan)
    assert rule.breaks == (1001, 1007, 1013, 1019, 1024) and rule.tail == 1
    assert [chunk.frames[0] for chunk in plan_chunks(FRAMES, 3, rule)] == [1001, 1007, 1019]
    assert_identical(single, chunked)


def test_restyle_animatediff_windows_are_never_split(tmp_path):
    op = RestyleOp(cache_dir=tmp_path)
    plan = op.prepare({"temporal": False}, {}, FRAMES, "cpu")
    plan.window_mode = True
    assert op.chunking(plan).whole and len(plan_chunks(FRAMES, 4, op.chunking(plan))) == 1


@pytest.mark.parametrize("keyframes", [[1001, 1009, 1017, 1024], [1001, 1010], [1005]])
def test_propagate_chunks_at_keyframes_exactly(keyframes):
    frames = sliding_shot(FRAMES)
    looks = {f"keyframe_{key}": frame.buffers[passes.BEAUTY][..., ::-1].copy() for frame in frames
             for key in keyframes if frame.number == key}
    _, single, chunked = whole_and_chunked(PropagateOp(), {"cache": False}, frames, 3, job_buffers=looks)
    assert_identical(single, chunked)


def test_extract_and_echo_frames_are_independent_and_chunk_exactly():
    from framebridge.server.ops.echo import EchoOp
    from framebridge.server.ops.extract import ExtractOp

    frames = sliding_shot(FRAMES)
    for op, params, backend in ((EchoOp(), {}, None), (ExtractOp(), {"conditions": ["canny"]}, "builtin")):
        plan, single, chunked = whole_and_chunked(op, params, frames, 4, backend)
        assert op.chunking(plan) == ChunkRule()
        assert_identical(single, chunked)
