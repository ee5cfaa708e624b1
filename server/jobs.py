"""Jobs, and the threads that run them under a fixed number of compute slots.

The socket thread only files frames into a job and sets flags. Each scheduled job
runs on its own thread, which holds one of ``workers`` compute slots while its op
works and gives the slot back while it waits for the client's next frame, so a
slow or vanished client never stalls anyone else's job. Frames reach the op in
submit order under the credit window; encoded messages go back through the
``deliver`` callable. A job remembers every frame's fate: done, failed (with its
error), or not reached because the job was cancelled.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from framebridge.protocol.errors import FrameBridgeError, FrameFailed, JobCancelled, RequestTimeout
from framebridge.protocol.messages import Done, Progress, Result, Status, bounded_error, group_failures
from framebridge.protocol.wire import Codec

from .ops.base import NO_JOB_BUFFERS, FrameFailure, InputFrame, JobContext, Op
from .results import ResultStore, RetentionBudget

__all__ = ["Job", "JobManager"]

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
MAX_FINISHED_JOBS = 64


@dataclass
class Job:
    """One submitted job and everything the server knows about it; ``lock`` guards the mutable state."""

    id: str
    op: Op
    plan: Any
    frames: list[int]
    shot: dict[str, Any]
    owner: bytes
    credit_window: int
    results: ResultStore
    backend: str = "builtin"
    job_buffers: Mapping[str, np.ndarray] = field(default_factory=lambda: NO_JOB_BUFFERS)
    peer_version: tuple[int, int] = (1, 0)  # the submitting client's protocol version: digests for 1.0 clients
    # The submit's own params and backend, from which a worker pool's workers prepare the op again.
    params: dict[str, Any] = field(default_factory=dict)
    requested_backend: str | None = None
    state: str = "queued"
    scheduled: bool = False
    received: set[int] = field(default_factory=set)
    waiting: dict[int, InputFrame] = field(default_factory=dict)
    consumed: int = 0
    done: list[int] = field(default_factory=list)
    failed: dict[int, FrameBridgeError] = field(default_factory=dict)
    warnings: dict[int, list[str]] = field(default_factory=dict)  # frames done with a caveat (e.g. no face: passed through)
    error: FrameBridgeError | None = None
    stage: str = "queued"
    started_at: float | None = None
    last_activity: float = field(default_factory=time.monotonic)
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    lock: threading.Condition = field(default_factory=threading.Condition)
    holds_slot: bool = False

    def __post_init__(self) -> None:
        self.frame_set = frozenset(self.frames)

    @property
    def finished(self) -> bool:
        return self.state not in ACTIVE

    @property
    def credit(self) -> int:
        """Cumulative credit: the client may have sent this many frames in total."""
        return self.consumed + self.credit_window

    @property
    def next_frame(self) -> int | None:
        """The frame the op takes next (frames are consumed in submit order)."""
        return self.frames[self.consumed] if self.consumed < len(self.frames) else None

    def compact(self) -> None:
        """Once the job has ended, keep only what ``status`` and ``done`` report, as flat arrays."""
        self.frames = array("q", self.frames)  # type: ignore[assignment]
        self.received = array("q", sorted(self.received))  # type: ignore[assignment]
        self.done = array("q", self.done)  # type: ignore[assignment]
        self.frame_set = frozenset()
        self.waiting.clear()
        self.plan = None

    def progress(self) -> Progress:
        with self.lock:
            finished = len(self.done) + len(self.failed)
            eta = None
            if self.started_at and finished:
                eta = (time.monotonic() - self.started_at) / finished * (len(self.frames) - finished)
            return Progress(received=len(self.received), done=len(self.done), failed=len(self.failed),
                            total=len(self.frames), credit=self.credit, stage=self.stage, eta=eta)

    def status(self) -> Status:
        with self.lock:
            return Status(op=self.op.name, state=self.state, frames=list(self.frames), received=sorted(self.received),
                          done=list(self.done), failed=group_failures(self.failed), credit=self.credit)

    def done_message(self) -> Done:
        with self.lock:
            return Done(state=self.state, frames=list(self.done), failed=group_failures(self.failed),
                        error=bounded_error(self.error.to_wire()) if self.error else None,
                        warnings=[{"frame": number, "message": message}
                                  for number, messages in sorted(self.warnings.items()) for message in messages])


class JobManager:
    """Runs each job on its own thread; at most ``workers`` of them compute at once."""

    def __init__(self, codec: Codec, deliver: Callable[[str, list[Any]], None], *, workers: int = 1, spool_dir: Path,
                 retain_bytes: int = 1 << 30, input_timeout: float = 600.0, job_ttl: float = 3600.0,
                 max_finished: int = MAX_FINISHED_JOBS, executor: Any = None):
        self.codec = codec
        self.executor = executor  # a scale.ChunkExecutor runs ops on a worker pool instead of this process
        self.deliver = deliver
        self.spool_dir = spool_dir
        self.retention = RetentionBudget(retain_bytes)
        self.max_finished = max_finished
        self.input_timeout = input_timeout
        self.job_ttl = job_ttl
        self.jobs: dict[str, Job] = {}
        self._slots = threading.Semaphore(workers)
        self._threads: dict[str, threading.Thread] = {}

    def create(self, job_id: str, op: Op, plan: Any, frames: list[int], shot: dict[str, Any], owner: bytes,
               credit_window: int, job_buffers: Mapping[str, np.ndarray] = NO_JOB_BUFFERS, *,
               params: dict[str, Any] | None = None, backend: str | None = None) -> Job:
        # The spool folder is named by a hash, so no job id can point outside the spool.
        folder = self.spool_dir / hashlib.sha256(job_id.encode()).hexdigest()[:32]
        job = Job(id=job_id, op=op, plan=plan, frames=frames, shot=shot, owner=owner, credit_window=credit_window,
                  results=ResultStore(folder, self.retention), backend=op.backend_name(plan),
                  job_buffers=job_buffers, params=dict(params or {}), requested_backend=backend)
        self.jobs[job_id] = job
        return job

    def active(self) -> int:
        return sum(1 for job in self.jobs.values() if not job.finished)

    def add_frame(self, job: Job, frame: InputFrame) -> bool:
        """File an input frame; False if it was already received (a resend after reconnect)."""
        with job.lock:
            if job.finished or frame.number in job.received:
                return False
            job.received.add(frame.number)
            job.waiting[frame.number] = frame
            job.last_activity = time.monotonic()
            job.lock.notify_all()
        self._schedule(job)
        return True

    def cancel(self, job: Job) -> None:
        with job.lock:
            job.cancel_requested.set()
            if job.state == "queued":
                job.stage = "cancelling"
            job.lock.notify_all()
        self._schedule(job)

    def acknowledge(self, job: Job, frames: list[int]) -> None:
        job.results.drop(frames)
        job.last_activity = time.monotonic()

    def active_for(self, owner: bytes) -> int:
        return sum(1 for job in self.jobs.values() if not job.finished and job.owner == owner)

    def expire(self) -> None:
        """End submits no frame followed within the input timeout; forget finished jobs by age and count."""
        now = time.monotonic()
        for job in list(self.jobs.values()):
            if not job.scheduled and not job.finished and now - job.last_activity > self.input_timeout:
                job.scheduled = True  # it ends here, so no thread is ever started for it
                self._finish(job, "failed", RequestTimeout(
                    f"no frame arrived within {self.input_timeout:.0f} s of the submit",
                    fix="send the job's frames right after submitting it"))
        now = time.monotonic()
        finished = sorted((job for job in self.jobs.values() if job.finished), key=lambda job: job.last_activity)
        for index, job in enumerate(finished):
            if index < len(finished) - self.max_finished or now - job.last_activity > self.job_ttl:
                self._forget(job.id)

    def _forget(self, job_id: str) -> None:
        job = self.jobs.pop(job_id)
        job.results.clear()
        self._threads.pop(job_id, None)

    def close(self) -> None:
        for job in list(self.jobs.values()):
            self.cancel(job)
        for thread in list(self._threads.values()):
            thread.join(timeout=5)
        if self.executor is not None:
            self.executor.close()

    def _schedule(self, job: Job) -> None:
        """Start a job's thread once it has a frame (or a cancel), so idle submits cost no thread."""
        with job.lock:
            if job.scheduled:
                return
            job.scheduled = True
        thread = threading.Thread(target=self._guarded, args=(job,), name=f"framebridge-job-{job.id[:12]}", daemon=True)
        self._threads[job.id] = thread
        thread.start()

    def _guarded(self, job: Job) -> None:
        """Run a job; should its thread fail outside the op, the job still ends and its client hears of it."""
        try:
            self._run(job)
        except Exception as error:
            log.exception("job %s crashed its thread", job.id)
            with job.lock:
                job.failed = {}  # what could not be reported is replaced by the one error that ended the job
            self._finish(job, "failed", FrameBridgeError(f"the job failed: {type(error).__name__}: {error}"))

    def _take_slot(self, job: Job) -> None:
        """Wait for a compute slot; a cancel while waiting raises :class:`JobCancelled`."""
        while not self._slots.acquire(timeout=0.1):
            if job.cancel_requested.is_set():
                raise JobCancelled("job cancelled")
        job.holds_slot = True

    def _give_slot(self, job: Job) -> None:
        if job.holds_slot:
            job.holds_slot = False
            self._slots.release()

    def _next_input(self, job: Job, number: int) -> InputFrame:
        """The next frame in submit order; the compute slot is given up while waiting for it."""
        with job.lock:
            frame = job.waiting.pop(number, None)
        if frame is None:
            self._give_slot(job)
            with job.lock:
                deadline = time.monotonic() + self.input_timeout
                while number not in job.waiting:
                    if job.cancel_requested.is_set():
                        raise JobCancelled("job cancelled")
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise RequestTimeout(f"frame {number} did not arrive within {self.input_timeout:.0f} s",
                                             fix="reconnect and resume the job with status(resend=True)")
                    job.lock.wait(min(remaining, 0.5))
                frame = job.waiting.pop(number)
            self._take_slot(job)
        with job.lock:
            job.consumed += 1
        return frame

    def _inputs(self, job: Job) -> Iterator[InputFrame]:
        for number in job.frames:
            frame = self._next_input(job, number)
            if job.cancel_requested.is_set():
                raise JobCancelled("job cancelled")
            if frame.failure is not None:
                with job.lock:
                    job.failed[number] = frame.failure
            self._send(job, job.progress())
            if frame.failure is None:
                yield frame

    def _run(self, job: Job) -> None:
        try:
            if job.cancel_requested.is_set():
                raise JobCancelled("job cancelled")
            self._take_slot(job)
        except JobCancelled:
            self._finish(job, "cancelled")
            return
        with job.lock:
            job.state = job.stage = "running"
            job.started_at = time.monotonic()
        context = JobContext(job_id=job.id, frames=list(job.frames), shot=job.shot,
                             cancelled=job.cancel_requested.is_set, report_stage=lambda stage: setattr(job, "stage", stage),
                             job_buffers=job.job_buffers)
        if self.executor is not None:
            outputs = self.executor.run(job, self._inputs(job), context)
        else:
            outputs = job.op.run(job.plan, self._inputs(job), context)
        try:
            for item in outputs:
                if isinstance(item, FrameFailure):
                    with job.lock:
                        job.failed[item.number] = item.error
                else:
                    described = [self.codec.describe(name, array, item.number, job.peer_version)
                                 for name, array in item.buffers.items()]
                    job.results.put(item.number, described, item.meta)
                    with job.lock:
                        job.done.append(item.number)
                        if item.meta.get("warnings"):
                            job.warnings[item.number] = [str(message) for message in item.meta["warnings"]]
                    self.deliver(job.id, self.codec.encode_described(Result(frame=item.number, meta=item.meta), job=job.id,
                                                                      described=described))
                self._send(job, job.progress())
                if job.cancel_requested.is_set():
                    raise JobCancelled("job cancelled")
            outputs.close()
            with job.lock:
                accounted = set(job.done) | set(job.failed)
                for number in job.frames:
                    if number not in accounted:
                        job.failed[number] = FrameFailed(f"the {job.op.name} op produced no result for frame {number}")
            self._finish(job, "completed" if not job.failed else "completed_with_failures")
        except JobCancelled:
            outputs.close()
            self._finish(job, "cancelled")
        except FrameBridgeError as error:
            outputs.close()
            self._finish(job, "failed", error)
        except Exception as error:
            log.exception("op %s failed in job %s", job.op.name, job.id)
            outputs.close()
            self._finish(job, "failed", FrameBridgeError(f"the {job.op.name} op failed: {type(error).__name__}: {error}"))
        finally:
            self._give_slot(job)

    def _finish(self, job: Job, state: str, error: FrameBridgeError | None = None) -> None:
        """Record how the job ended (a job-level error fails every frame not yet done) and tell the client."""
        with job.lock:
            if error is not None:
                job.error = error
                done = set(job.done)
                for number in job.frames:
                    if number not in done and number not in job.failed:
                        job.failed[number] = error
            job.state = job.stage = state
            job.last_activity = time.monotonic()
            job.compact()
        self._send(job, job.done_message())

    def _send(self, job: Job, body: Any) -> None:
        self.deliver(job.id, self.codec.encode(body, job=job.id))
