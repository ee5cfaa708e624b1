"""A job's op work spread over a pool's workers in chunks, its results streamed back in submit order.

The job manager hands :meth:`ChunkExecutor.run` the job and its input frames
(which it reads from the client under the credit window) instead of calling the
op. The frames are split with :func:`~framebridge.server.chunks.plan_chunks` into
one chunk per worker under the op's :class:`~framebridge.server.chunks.ChunkRule`.
A feeder thread reads the input frames as they arrive and stores each in the
pool (Ray's object store: the credit keeps flowing, the frames wait there, not in
the server), and a chunk starts on a free worker as soon as every frame it runs
has come in (or failed at the host). Each running chunk streams its results to
the executor, which releases them in submit order (:class:`~.ordering.InOrder`,
fade frames cross-faded). A cancel reaches every worker running the job, which
stops before its next frame; a worker that dies has its chunk run again on
another one (or its replacement), and results already released are not sent twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from typing import Any, Iterable, Iterator, Protocol

from framebridge.protocol.errors import FrameBridgeError, JobCancelled

from ..chunks import Chunk, plan_chunks
from ..ops.base import FrameFailure, InputFrame, JobContext, OutputFrame
from .ordering import InOrder
from .worker import ChunkTask

__all__ = ["ChunkExecutor", "Pool", "WorkerLost"]

log = logging.getLogger(__name__)

MAX_RERUNS = 3  # a chunk whose workers keep dying fails the job after this many re-runs


class WorkerLost(Exception):
    """A pool worker died while running a chunk (its process crashed, was killed, or its node left)."""


class Pool(Protocol):
    """What the executor needs of a worker pool (:class:`~.pool.RayPool`, or a local one in tests)."""

    size: int

    def acquire(self) -> Any | None: ...
    def release(self, worker: Any) -> None: ...
    def replace(self, worker: Any) -> None: ...
    def put(self, buffers: dict[str, Any]) -> Any: ...
    def stream(self, worker: Any, task: ChunkTask, job_buffers: Any,
               frames: list[Any]) -> Iterable[OutputFrame | FrameFailure]: ...
    def cancel(self, worker: Any, token: str) -> None: ...


class ChunkExecutor:
    """Runs jobs on a :class:`Pool`; the job manager calls :meth:`run` instead of the op's own ``run``."""

    def __init__(self, pool: Pool, *, poll_seconds: float = 0.05):
        self.pool = pool
        self.poll_seconds = poll_seconds

    def close(self) -> None:
        close = getattr(self.pool, "close", None)
        if close is not None:
            close()

    def run(self, job: Any, inputs: Iterator[InputFrame], context: JobContext) -> Iterator[OutputFrame | FrameFailure]:
        """Results of ``job`` (its op, raw ``params``, ``requested_backend``, ``shot``, ``frames``, ``job_buffers``)."""
        run = _JobRun(self, job, inputs, context)
        try:
            yield from run.results()
        finally:
            run.stop()


class _JobRun:
    """The state of one job on the pool: frames stored, chunks waiting, running and done."""

    def __init__(self, executor: ChunkExecutor, job: Any, inputs: Iterator[InputFrame], context: JobContext):
        self.pool = executor.pool
        self.poll_seconds = executor.poll_seconds
        self.job = job
        self.context = context
        self.chunks = plan_chunks(job.frames, self.pool.size, job.op.chunking(job.plan))
        self.order = InOrder(job.frames, self.chunks)
        self.positions = {number: position for position, number in enumerate(job.frames)}
        self.events: queue.Queue = queue.Queue()
        self.stored: dict[int, Any] = {}
        self.reached = -1  # the submit-order position up to which every frame has arrived or failed
        self.inputs_done = False
        self.waiting = list(self.chunks)
        self.running: dict[int, tuple[Any, str]] = {}  # chunk index -> (worker, token)
        self.reruns: dict[int, int] = {}
        self.stopping = threading.Event()
        self.job_buffers = self.pool.put(dict(job.job_buffers))
        self.feeder = threading.Thread(target=self._feed, args=(inputs,), name=f"framebridge-feed-{job.id[:12]}", daemon=True)
        self.streams: list[threading.Thread] = []
        self.feeder.start()

    def results(self) -> Iterator[OutputFrame | FrameFailure]:
        while not self.order.complete:
            if self.context.cancelled():
                raise JobCancelled("job cancelled")
            self._start_ready_chunks()
            try:
                event = self.events.get(timeout=self.poll_seconds)
            except queue.Empty:
                continue
            self._handle(event)
            yield from self.order.released()

    def _handle(self, event: tuple) -> None:
        kind = event[0]
        if kind == "input_error":
            raise event[1]
        if kind == "input":
            return
        chunk: Chunk = event[1]
        if kind == "item":
            self.order.add(chunk, event[2])
            return
        worker, _ = self.running.pop(chunk.index)
        if kind == "ended":
            self.pool.release(worker)
            self.order.end(chunk)
        elif kind == "lost":
            self.reruns[chunk.index] = self.reruns.get(chunk.index, 0) + 1
            log.warning("job %s: a pool worker died running chunk %d (%s); running it again", self.job.id, chunk.index, event[2])
            self.pool.replace(worker)
            if self.reruns[chunk.index] > MAX_RERUNS:
                raise FrameBridgeError(f"chunk {chunk.index} of job {self.job.id} lost its worker {MAX_RERUNS + 1} times",
                                       fix="check the Ray cluster's logs (`ray status`, `ray logs`) for crashing workers")
            self.order.restart(chunk)
            self.waiting.insert(0, chunk)
        elif kind == "failed":
            self.pool.release(worker)
            raise event[2]

    def _start_ready_chunks(self) -> None:
        while self.waiting and self._ready(self.waiting[0]):
            worker = self.pool.acquire()
            if worker is None:
                return
            chunk = self.waiting.pop(0)
            token = f"{self.job.id}/{chunk.index}/{uuid.uuid4().hex[:8]}"
            self.running[chunk.index] = (worker, token)
            task = ChunkTask(token=token, job_id=self.job.id, op=self.job.op.name, params=dict(self.job.params),
                                  shot=dict(self.job.shot), frames=list(self.job.frames),
                                  backend=self.job.requested_backend,
                                  run=[number for number in chunk.run if number in self.stored],
                                  returned=list(chunk.returned))
            frames = [self.stored[number] for number in task.run]
            thread = threading.Thread(target=self._stream, args=(chunk, worker, task, frames),
                                      name=f"framebridge-chunk-{chunk.index}", daemon=True)
            self.streams.append(thread)
            thread.start()

    def _ready(self, chunk: Chunk) -> bool:
        """Every frame the chunk runs has arrived, or failed at the host (frames arrive in submit order)."""
        return self.inputs_done or max(self.positions[number] for number in chunk.run) <= self.reached

    def _stream(self, chunk: Chunk, worker: Any, task: ChunkTask, frames: list[Any]) -> None:
        try:
            for item in self.pool.stream(worker, task, self.job_buffers, frames):
                if self.stopping.is_set():
                    break
                self.events.put(("item", chunk, item))
            self.events.put(("ended", chunk))
        except WorkerLost as error:
            self.events.put(("lost", chunk, error))
        except FrameBridgeError as error:
            self.events.put(("failed", chunk, error))
        except Exception as error:
            log.exception("chunk %d of job %s failed on the pool", chunk.index, self.job.id)
            self.events.put(("failed", chunk, FrameBridgeError(f"the pool failed: {type(error).__name__}: {error}")))

    def _feed(self, inputs: Iterator[InputFrame]) -> None:
        """Store each input frame in the pool as it arrives; runs until the input ends, fails or the job stops."""
        try:
            for frame in inputs:
                self.stored[frame.number] = self.pool.put(dict(frame.buffers))
                self.reached = self.positions[frame.number]
                self.events.put(("input",))
            self.inputs_done = True
            self.events.put(("input",))
        except BaseException as error:
            if not self.stopping.is_set():
                self.events.put(("input_error", error))

    def stop(self) -> None:
        """Stop every worker still running this job and the feeder; wait (briefly) for both."""
        self.stopping.set()
        for worker, token in list(self.running.values()):
            try:
                self.pool.cancel(worker, token)
            except Exception as error:
                log.warning("could not cancel a chunk of job %s: %s", self.job.id, error)
        # The feeder reads the client's frames: the job's cancel flag ends its wait for the next one.
        self.job.cancel_requested.set()
        deadline = time.monotonic() + 10.0
        self.feeder.join(timeout=max(0.0, deadline - time.monotonic()))
        for thread in self.streams:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for worker, _ in list(self.running.values()):
            self.pool.release(worker)
        self.running.clear()
