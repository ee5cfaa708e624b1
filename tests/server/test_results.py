"""Results kept for a client until acknowledged: memory up to a budget, then disk."""

from __future__ import annotations

import time

import numpy as np

from framebridge.protocol.buffers import describe
from framebridge.protocol.wire import Codec
from framebridge.server.jobs import MAX_FINISHED_JOBS, JobManager
from framebridge.server.ops.base import InputFrame
from framebridge.server.ops.echo import EchoOp
from framebridge.server.results import ResultStore, RetentionBudget


def result(frame: int, value: float):
    return [describe("beauty", np.full((8, 8, 4), value, np.float32), frame), describe("depth", np.full((8, 8), frame, np.float16), frame)]


def test_results_beyond_the_budget_spill_to_disk_and_read_back_identical(tmp_path):
    store = ResultStore(tmp_path / "job", RetentionBudget(2 * 8 * 8 * 4 * 4))
    originals = {frame: result(frame, frame * 0.5) for frame in range(1, 6)}
    for frame, described in originals.items():
        store.put(frame, described, {"frame": frame})
    spilled = sorted(path.name for path in (tmp_path / "job").iterdir())
    assert spilled and all(name.endswith(".raw") for name in spilled)
    for frame, described in originals.items():
        back, meta = store.get(frame)
        assert meta == {"frame": frame}
        for (descriptor, array), (expected_descriptor, expected) in zip(back, described):
            assert descriptor == expected_descriptor and descriptor.digest == expected_descriptor.digest
            assert array.tobytes() == expected.tobytes()


def test_acknowledged_results_are_dropped_from_memory_and_disk(tmp_path):
    store = ResultStore(tmp_path / "job", RetentionBudget(0))
    for frame in (1, 2, 3):
        store.put(frame, result(frame, 1.0), {})
    store.drop([1, 2])
    assert store.frames() == [3]
    assert sorted(path.name for path in (tmp_path / "job").iterdir()) == ["3.0.raw", "3.1.raw"]
    assert store.get(1) is None
    store.clear()
    assert not (tmp_path / "job").exists()


def test_jobs_idle_past_their_time_to_live_are_forgotten(tmp_path):
    sent = []
    manager = JobManager(Codec(b"k" * 64), lambda job_id, frames: sent.append(job_id), spool_dir=tmp_path, job_ttl=0.0)
    try:
        op = EchoOp()
        abandoned = manager.create("abandoned", op, op.prepare({}, {}, [1], None), [1], {}, b"client", 8)
        abandoned.last_activity -= manager.input_timeout + 1  # submitted longer ago than the input timeout
        finished = manager.create("finished", op, op.prepare({}, {}, [1], None), [1], {}, b"client", 8)
        manager.add_frame(finished, InputFrame(1, {"x": np.zeros(3, np.float32)}))
        running = manager.create("running", op, op.prepare({"delay": 0.5}, {}, [1, 2], None), [1, 2], {}, b"client", 8)
        manager.add_frame(running, InputFrame(1, {"x": np.zeros(3, np.float32)}))
        deadline = time.monotonic() + 10
        while not finished.finished and time.monotonic() < deadline:
            time.sleep(0.01)
        manager.expire()
        assert abandoned.id not in manager.jobs and finished.id not in manager.jobs
        assert running.id in manager.jobs, "a job that is still running is never expired"
    finally:
        manager.close()


def test_an_op_that_crashes_fails_its_job_and_names_every_frame_it_did_not_return(tmp_path):
    from framebridge.protocol.messages import REPLIES, expand_failures
    from framebridge.server.ops.base import Op, OutputFrame

    class Crashing(Op):
        name = "crashing"

        def describe(self):
            return {}

        def prepare(self, params, shot, frames, backend):
            return None

        def run(self, plan, frames, context):
            for frame in frames:
                if frame.number == 2:
                    raise RuntimeError("out of memory, say")
                yield OutputFrame(frame.number, dict(frame.buffers))

    codec = Codec(b"k" * 64)
    replies = Codec(b"k" * 64, incoming=REPLIES)
    messages = []
    manager = JobManager(codec, lambda job_id, frames: messages.append(replies.decode([bytes(f) for f in frames])),
                         spool_dir=tmp_path)
    try:
        job = manager.create("crash", Crashing(), None, [1, 2, 3], {}, b"client", 8)
        for number in (1, 2, 3):
            manager.add_frame(job, InputFrame(number, {"x": np.full(3, number, np.float32)}))
        deadline = time.monotonic() + 10
        while not job.finished and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        manager.close()
    done = [message.body for message in messages if message.type == "done"][-1]
    assert done.state == "failed" and done.frames == [1]
    assert sorted(expand_failures(done.failed)) == [2, 3] and "out of memory" in done.error["message"]
    assert len(done.failed) == 1, "one job-level error travels once for all the frames it failed"


def test_a_frame_stored_again_replaces_its_earlier_copy(tmp_path):
    one_frame = 8 * 8 * 4 * 4 + 8 * 8 * 2
    store = ResultStore(tmp_path / "job", RetentionBudget(one_frame))
    store.put(1, result(1, 0.5), {})
    store.put(1, result(1, 0.25), {})
    assert not (tmp_path / "job").exists(), "the replaced copy is not counted, so nothing spills"
    described, _ = store.get(1)
    assert described[0][1][0, 0, 0] == 0.25


def test_the_memory_budget_is_shared_by_every_job(tmp_path):
    one_frame = 8 * 8 * 4 * 4 + 8 * 8 * 2
    budget = RetentionBudget(one_frame + one_frame // 2)
    first, second = ResultStore(tmp_path / "first", budget), ResultStore(tmp_path / "second", budget)
    first.put(1, result(1, 0.5), {})
    second.put(1, result(1, 0.5), {})
    assert not (tmp_path / "first").exists() and sorted(p.name for p in (tmp_path / "second").iterdir()) == ["1.0.raw", "1.1.raw"]
    first.drop([1])
    assert budget.used == 0
    second.put(2, result(2, 0.5), {})
    assert budget.used == one_frame and second.get(2)[0][0][1][0, 0, 0] == 0.5


def test_finished_jobs_are_forgotten_beyond_a_count_with_their_spool_files(tmp_path):
    manager = JobManager(Codec(b"k" * 64), lambda job_id, frames: None, spool_dir=tmp_path, retain_bytes=0)
    try:
        op = EchoOp()
        jobs = []
        for number in range(MAX_FINISHED_JOBS + 20):
            job = manager.create(f"job-{number}", op, op.prepare({}, {}, [1], None), [1], {}, b"client", 8)
            manager.add_frame(job, InputFrame(1, {"x": np.zeros(3, np.float32)}))
            jobs.append(job)
        deadline = time.monotonic() + 20
        while not all(job.finished for job in jobs) and time.monotonic() < deadline:
            time.sleep(0.01)
        newest = sorted(jobs, key=lambda job: job.last_activity)[20:]
        manager.expire()
        assert sorted(manager.jobs) == sorted(job.id for job in newest), "the longest finished jobs go first"
        assert len(list(tmp_path.iterdir())) == MAX_FINISHED_JOBS, "a forgotten job's spilled results are deleted"
    finally:
        manager.close()


def test_a_job_whose_failures_cannot_be_reported_still_ends_with_done(tmp_path):
    from framebridge.protocol.errors import FrameBridgeError
    from framebridge.protocol.messages import REPLIES
    from framebridge.server.ops.base import FrameFailure, Op

    class Unreportable(FrameBridgeError):
        code = "test_unreportable"

        def to_wire(self):
            raise RecursionError("maximum recursion depth exceeded")

    class Failing(Op):
        name = "failing"

        def describe(self):
            return {}

        def prepare(self, params, shot, frames, backend):
            return None

        def run(self, plan, frames, context):
            for frame in frames:
                yield FrameFailure(frame.number, Unreportable("nested too deep to report"))

    replies = Codec(b"k" * 64, incoming=REPLIES)
    messages = []
    manager = JobManager(Codec(b"k" * 64), lambda job_id, frames: messages.append(replies.decode([bytes(f) for f in frames])),
                         spool_dir=tmp_path)
    try:
        job = manager.create("unreportable", Failing(), None, [1], {}, b"client", 8)
        manager.add_frame(job, InputFrame(1, {"x": np.zeros(3, np.float32)}))
        deadline = time.monotonic() + 10
        while not job.finished and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
    finally:
        manager.close()
    done = [message.body for message in messages if message.type == "done"]
    assert done and done[-1].state == "failed" and "RecursionError" in done[-1].error["message"]
