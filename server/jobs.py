"""Jobs and the worker threads that run them.

The socket thread only files frames into a job and sets flags; workers pull
frames in submit order under the credit window, run the op, and hand encoded
messages back through the ``deliver`` callable. A job remembers every frame's fate:
done, failed (with its error), or not reached because the job was cancelled.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from framebridge.protocol.buffers import describe
from framebridge.protocol.errors import FrameBridgeError, FrameFailed, JobCancelled, RequestTimeout
from framebridge.protocol.messages import Done, Progress, Result, Status
from framebridge.protocol.wire import Codec

from .ops.base import FrameFailure, InputFrame, JobContext, Op
from .results import ResultStore

__all__ = ["Job", "JobManager"]

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")


@dataclass
class Job:
    """One submitted job and everything the server knows about it."""

    id: str
    op: Op
    plan: Any
    frames: list[int]
    shot: dict[str, Any]
    owner: bytes
    credit_window: int
    results: ResultStore
    backend: str = "builtin"
    state: str = "queued"
    scheduled: bool = False
    received: set[int] = field(default_factory=set)
    waiting: dict[int, InputFrame] = field(default_factory=dict)
    consumed: int = 0
    done: list[int] = field(default_factory=list)
    failed: dict[int, FrameBridgeError] = field(default_factory=dict)
    error: FrameBridgeError | None = None
    stage: str = "queued"
    started_at: float | None = None
    last_activity: float = field(default_factory=time.monotonic)
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def finished(self) -> bool:
        return self.state not in ACTIVE

    @property
    def credit(self) -> int:
        """Cumulative credit: the client may have sent this many frames in total."""
        return self.consumed + self.credit_window

    def progress(self) -> Progress:
        finished = len(self.done) + len(self.failed)
        eta = None
        if self.started_at and finished:
            elapsed = time.monotonic() - self.started_at
            eta = elapsed / finished * (len(self.frames) - finished)
        return Progress(received=len(self.received), done=len(self.done), failed=len(self.failed),
                        total=len(self.frames), credit=self.credit, stage=self.stage, eta=eta)

    def status(self) -> Status:
        return Status(op=self.op.name, state=self.state, frames=list(self.frames), received=sorted(self.received),
                      done=list(self.done), failed={str(n): e.to_wire() for n, e in self.failed.items()},
                      credit=self.credit)

    def done_message(self) -> Done:
        return Done(state=self.state, frames=list(self.done),
                    failed={str(n): e.to_wire() for n, e in self.failed.items()},
                    error=self.error.to_wire() if self.error else None)


class JobManager:
    """Runs jobs on a fixed pool of worker threads, one job per worker at a time."""

    def __init__(self, codec: Codec, deliver: Callable[[str, list[Any]], None], *, workers: int = 1, spool_dir: Path,
                 retain_bytes: int = 1 << 30, input_timeout: float = 600.0, job_ttl: float = 3600.0):
        self.codec = codec
        self.deliver = deliver
        self.spool_dir = spool_dir
        self.retain_bytes = retain_bytes
        self.input_timeout = input_timeout
        self.job_ttl = job_ttl
        self.jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._work, name=f"framebridge-worker-{n}", daemon=True)
                         for n in range(workers)]
        for thread in self._threads:
            thread.start()

    def create(self, job_id: str, op: Op, plan: Any, frames: list[int], shot: dict[str, Any], owner: bytes,
               credit_window: int) -> Job:
        job = Job(id=job_id, op=op, plan=plan, frames=frames, shot=shot, owner=owner, credit_window=credit_window,
                  results=ResultStore(self.spool_dir / job_id, self.retain_bytes), backend=op.backend_name(plan))
        self.jobs[job_id] = job
        return job

    def add_frame(self, job: Job, frame: InputFrame) -> bool:
        """File an input frame; False if it was already received (a resend after reconnect)."""
        with job.arrived:
            if frame.number in job.received:
                return False
            job.received.add(frame.number)
            job.waiting[frame.number] = frame
            job.last_activity = time.monotonic()
            job.arrived.notify_all()
            self._schedule(job)
        return True

    def cancel(self, job: Job) -> None:
        with job.arrived:
            job.cancel_requested.set()
            if job.state == "queued":
                job.stage = "cancelling"
            job.arrived.notify_all()
            self._schedule(job)

    def acknowledge(self, job: Job, frames: list[int]) -> None:
        job.results.drop(frames)
        job.last_activity = time.monotonic()

    def expire(self) -> None:
        """Forget jobs idle for longer than the time to live: finished ones, and submits no frame ever followed."""
        now = time.monotonic()
        for job_id, job in list(self.jobs.items()):
            if (job.finished or not job.scheduled) and now - job.last_activity > self.job_ttl:
                job.results.clear()
                del self.jobs[job_id]

    def _schedule(self, job: Job) -> None:
        """Queue a job for a worker once it has a frame (or a cancel), so idle submits hold no worker."""
        if not job.scheduled:
            job.scheduled = True
            self._queue.put(job)

    def close(self) -> None:
        for job in self.jobs.values():
            self.cancel(job)
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._run(job)
            except Exception:
                log.exception("job %s crashed the worker loop", job.id)

    def _inputs(self, job: Job) -> Iterator[InputFrame]:
        for number in job.frames:
            with job.arrived:
                deadline = time.monotonic() + self.input_timeout
                while number not in job.waiting:
                    if job.cancel_requested.is_set():
                        raise JobCancelled("job cancelled")
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise RequestTimeout(f"frame {number} did not arrive within {self.input_timeout:.0f} s",
                                             fix="reconnect and resume the job with status(resend=True)")
                    job.arrived.wait(min(remaining, 0.5))
                frame = job.waiting.pop(number)
                job.consumed += 1
            if job.cancel_requested.is_set():
                raise JobCancelled("job cancelled")
            self._send(job, job.progress())
            yield frame

    def _run(self, job: Job) -> None:
        if job.cancel_requested.is_set():
            job.state = job.stage = "cancelled"
            self._send(job, job.done_message())
            return
        job.state = job.stage = "running"
        job.started_at = time.monotonic()
        context = JobContext(job_id=job.id, frames=list(job.frames), shot=job.shot,
                             cancelled=job.cancel_requested.is_set, report_stage=lambda stage: setattr(job, "stage", stage))
        outputs = job.op.run(job.plan, self._inputs(job), context)
        try:
            for item in outputs:
                if isinstance(item, FrameFailure):
                    job.failed[item.number] = item.error
                else:
                    described = [describe(name, array, item.number, self.codec.limits) for name, array in item.buffers.items()]
                    job.results.put(item.number, described, item.meta)
                    job.done.append(item.number)
                    self.deliver(job.id, self.codec.encode_described(Result(frame=item.number, meta=item.meta), job=job.id,
                                                                      described=described))
                self._send(job, job.progress())
                if job.cancel_requested.is_set():
                    raise JobCancelled("job cancelled")
            outputs.close()
            accounted = set(job.done) | set(job.failed)
            for number in job.frames:
                if number not in accounted:
                    job.failed[number] = FrameFailed(f"the {job.op.name} op produced no result for frame {number}")
            job.state = "completed" if not job.failed else "completed_with_failures"
        except JobCancelled:
            outputs.close()
            job.state = "cancelled"
        except FrameBridgeError as error:
            outputs.close()
            self._fail(job, error)
        except Exception as error:
            log.exception("op %s failed in job %s", job.op.name, job.id)
            outputs.close()
            self._fail(job, FrameBridgeError(f"the {job.op.name} op failed: {type(error).__name__}: {error}"))
        job.stage = job.state
        job.last_activity = time.monotonic()
        with job.arrived:
            job.waiting.clear()
        self._send(job, job.done_message())

    def _fail(self, job: Job, error: FrameBridgeError) -> None:
        job.state = "failed"
        job.error = error
        for number in job.frames:
            if number not in job.done and number not in job.failed:
                job.failed[number] = error

    def _send(self, job: Job, body: Any) -> None:
        self.deliver(job.id, self.codec.encode(body, job=job.id))
