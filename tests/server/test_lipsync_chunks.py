"""The lipsync op is never split: its cues and its plates depend on the whole track and shot."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.server.chunks import ChunkRule, plan_chunks
from framebridge.server.chunked import run_chunked
from framebridge.server.lipsync.espeak import synthesise
from framebridge.server.ops.base import InputFrame
from framebridge.server.ops.lipsync import WEIGHTS, LipsyncOp

FRAMES = list(range(101, 131))
SENTENCE = "Maybe Bob paid for the map."


@pytest.fixture(scope="module")
def line():
    return synthesise(SENTENCE)


@pytest.mark.parametrize("mode, backend", [("cues", None), ("plate", "cpu")])
def test_a_lipsync_job_is_one_chunk_however_many_are_asked_for(line, mode, backend):
    op = LipsyncOp()
    plan = op.prepare({"sample_rate": line.sample_rate, "fps": 24, "mode": mode}, {}, FRAMES, backend,
                      {"audio": line.samples})
    assert op.chunking(plan) == ChunkRule(whole=True)
    assert [chunk.run for chunk in plan_chunks(FRAMES, 4, op.chunking(plan))] == [tuple(FRAMES)]


def test_cues_split_into_short_chunks_would_move_a_closure_the_one_chunk_keeps(line):
    op = LipsyncOp()
    job_buffers = {"audio": line.samples}
    plan = op.prepare({"sample_rate": line.sample_rate, "fps": 24, "transcript": SENTENCE}, {}, FRAMES, None, job_buffers)
    frames = [InputFrame(number, {}) for number in FRAMES]

    def shapes(results):
        return [results[number].meta["shape"] for number in FRAMES]

    single = run_chunked(op, plan, frames, 1, job_buffers=job_buffers)
    by_rule = run_chunked(op, plan, frames, 10, job_buffers=job_buffers)
    assert shapes(by_rule) == shapes(single)
    for number in FRAMES:
        np.testing.assert_array_equal(by_rule[number].buffers[WEIGHTS], single[number].buffers[WEIGHTS])
    assert shapes(run_chunked(op, plan, frames, 10, ChunkRule(), job_buffers=job_buffers)) != shapes(single)
