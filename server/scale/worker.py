"""The work one pool actor does: run an op over one chunk's frames, keeping its ops (and their loaded models) between jobs.

Nothing here imports Ray: :mod:`.pool` wraps :class:`ChunkWorker` as an actor.
A chunk arrives as the submit's raw params, the shot, the job's frames and the
chunk's own frames with their buffers; the worker prepares the op exactly as the
server did (the job's frames, so keyframes and start frames mean the same on every
actor), runs it over the chunk's frames and yields the results the chunk returns,
each as a plain tuple: ``("result", number, buffers, meta)``,
``("failure", number, error_wire)``, or last ``("error", None, error_wire)`` when the
op failed the whole chunk. A cancel stops the chunk before its next frame.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from framebridge.protocol.errors import FrameBridgeError, FrameFailed, error_from_wire

from ..ops.base import FrameFailure, InputFrame, JobContext, Op, OutputFrame

__all__ = ["ChunkTask", "ChunkWorker", "encode_item", "decode_item"]

STOPS_KEPT = 64  # the record keeps the last chunks a cancel stopped


def encode_item(item: Any) -> tuple:
    """An op's result or failure as a tuple that crosses processes without pickling an exception."""
    if isinstance(item, FrameFailure):
        return ("failure", item.number, item.error.to_wire())
    return ("result", item.number, dict(item.buffers), dict(item.meta))


def decode_item(encoded: tuple) -> OutputFrame | FrameFailure:
    """The result or failure :func:`encode_item` made; a chunk's job-level error is raised as its own class."""
    if encoded[0] == "error":
        raise error_from_wire(encoded[2])
    if encoded[0] == "failure":
        return FrameFailure(encoded[1], error_from_wire(encoded[2]))
    return OutputFrame(encoded[1], encoded[2], encoded[3])


@dataclass(frozen=True)
class ChunkTask:
    """What a worker needs to run one chunk: the submit as the server got it, and the chunk's frames."""

    token: str  # names this run of the chunk, for cancel
    job_id: str
    op: str
    params: dict[str, Any]
    shot: dict[str, Any]
    frames: list[int]  # the job's, in submit order
    backend: str | None
    run: list[int]  # the chunk's frames that arrived, in order: the buffers come in this order
    returned: list[int]


class ChunkWorker:
    """One pool slot: the server's ops, built once, and a record of the chunks it ran and stopped."""

    def __init__(self, ops: Callable[[], Mapping[str, Op]] | None = None):
        from ..memory import keep_frame_memory
        from ..ops import default_ops

        keep_frame_memory()
        self.ops = dict((ops or default_ops)())
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._record: dict[str, Any] = {"chunks": 0, "frames": 0, "stopped": deque(maxlen=STOPS_KEPT)}

    def ready(self) -> dict[str, Any]:
        """Answered once the worker is built: its process and its ops."""
        return {"pid": os.getpid(), "ops": sorted(self.ops)}

    def cancel(self, token: str) -> None:
        with self._lock:
            self._cancelled.add(token)

    def record(self) -> dict[str, Any]:
        """What this worker did: chunks and frames run, and each chunk a cancel stopped (job, frames it had started)."""
        with self._lock:
            return {**self._record, "stopped": [dict(entry) for entry in self._record["stopped"]]}

    def run_chunk(self, task: ChunkTask, job_buffers: Mapping[str, np.ndarray],
                  *frame_buffers: Mapping[str, np.ndarray]) -> Iterator[tuple]:
        """Run ``task``'s op over its frames (``frame_buffers`` in ``task.run`` order); yield the returned results."""
        token = task.token
        op = self.ops[task.op]
        job_buffers = MappingProxyType(dict(job_buffers))
        with self._lock:
            self._record["chunks"] += 1
        started = [0]
        context = JobContext(job_id=task.job_id, frames=list(task.frames), shot=dict(task.shot),
                             cancelled=lambda: token in self._cancelled, job_buffers=job_buffers)
        returned = set(task.returned)
        outputs = None
        try:
            plan = op.prepare(dict(task.params), dict(task.shot), list(task.frames), task.backend, job_buffers)
            outputs = op.run(plan, self._inputs(task, frame_buffers, started), context)
            for item in outputs:
                if self._stopped(task, started[0]):
                    return
                if item.number in returned:
                    yield encode_item(item)
        except Exception as error:
            if not isinstance(error, FrameBridgeError):
                error = FrameFailed(f"the {op.name} op failed on a pool worker: {type(error).__name__}: {error}")
            yield ("error", None, error.to_wire())
        finally:
            if outputs is not None:
                outputs.close()
            with self._lock:
                self._cancelled.discard(token)

    def _inputs(self, task: ChunkTask, frame_buffers: tuple, started: list[int]) -> Iterator[InputFrame]:
        """The chunk's frames for the op; none is handed out once the chunk is cancelled."""
        for number, buffers in zip(task.run, frame_buffers):
            if self._stopped(task, started[0]):
                return
            started[0] += 1
            with self._lock:
                self._record["frames"] += 1
            yield InputFrame(number, MappingProxyType(dict(buffers)))

    def _stopped(self, task: ChunkTask, started: int) -> bool:
        """Whether ``task`` was cancelled; the first time, noted in the record with the frames it had started."""
        with self._lock:
            token = task.token
            if token not in self._cancelled:
                return False
            if not any(entry["token"] == token for entry in self._record["stopped"]):
                self._record["stopped"].append({"token": token, "job": task.job_id, "started": started,
                                                "frames": len(task.run)})
            return True
