"""The expression op split into chunks: its smoothing warms up, a reference among the job's frames keeps it whole."""

from __future__ import annotations

import numpy as np

from fixtures.expression import drive_frames, linear
from framebridge.server.chunks import ChunkRule, plan_chunks
from framebridge.server.chunked import run_chunked
from framebridge.server.faces.shapes import jitter
from framebridge.server.ops.base import InputFrame
from framebridge.server.ops.expression import ExpressionOp, smoothing_warmup


def test_smoothing_warm_up_grows_with_the_strength():
    assert smoothing_warmup(0.0) == 0
    assert 8 <= smoothing_warmup(0.5) <= 16 < smoothing_warmup(0.75)


def test_chunks_warmed_up_on_the_smoothing_track_the_single_run_within_a_tenth_of_a_pixel(astronaut, astronaut_face,
                                                                                           second_face):
    rng = np.random.default_rng(11)
    base = astronaut_face.landmarks
    driver = drive_frames(astronaut, base, [base] + [jitter(base, 1.5, rng) for _ in range(35)])
    frames = [InputFrame(n, {"driving": linear(image)}) for n, image in enumerate(driver, start=1)]
    job_buffers = {"source": linear(second_face), "reference": linear(driver[0])}
    op = ExpressionOp()
    plan = op.prepare({"cache": False, "smoothing": 0.5}, {}, list(range(1, 37)), None, job_buffers)
    rule = op.chunking(plan)
    assert rule == ChunkRule(warmup=smoothing_warmup(0.5))
    assert len(plan_chunks(list(range(1, 37)), 2, rule)) == 2

    def landmarks(count, chosen):
        results = run_chunked(op, plan, frames, count, chosen, job_buffers=job_buffers)
        return np.array([results[n].meta["target_landmarks"] for n in range(1, 37)])

    single = landmarks(1, ChunkRule())
    warmed = np.abs(landmarks(2, rule) - single).max()
    cold = np.abs(landmarks(2, ChunkRule()) - single).max()
    assert warmed < 0.1 < cold


def test_a_reference_taken_from_the_jobs_frames_keeps_the_job_whole(second_face, mouth_driver):
    driver, _ = mouth_driver
    op = ExpressionOp()
    plan = op.prepare({"cache": False, "reference_frame": 3}, {}, [1, 2, 3], None, {"source": linear(second_face)})
    assert op.chunking(plan).whole
