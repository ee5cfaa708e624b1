"""The only module that talks to the server; it never touches ``bpy``.

No thread: the client is non-blocking (``Job.step(timeout=0)`` sends what the
credit window allows and returns the events that already arrived), so the modal
operator's timer drives a :class:`JobRunner` directly. That keeps the ZeroMQ
socket on one thread (sockets are not thread-safe), keeps ``bpy`` off any
background thread, and makes cancel immediate. Each poll turns the client's
events into small typed messages (:class:`FrameStored`, :class:`Progressed`,
:class:`Finished`) for the operator to show.

Every failure leaves this module as a :class:`~framebridge.protocol.errors.FrameBridgeError`
with a message and, where there is one, a fix; the operators report it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from framebridge.protocol import session
from framebridge.protocol.client import Client, DoneEvent, ProgressEvent, ResultEvent
from framebridge.protocol.errors import FrameBridgeError, JobCancelled

__all__ = [
    "FrameStored",
    "Progressed",
    "Finished",
    "check_server",
    "JobRunner",
]


@dataclass(frozen=True)
class FrameStored:
    """A result frame arrived and was handed to the result sink."""

    number: int


@dataclass(frozen=True)
class Progressed:
    """Frames done out of the total, and what the server is doing."""

    done: int
    total: int
    stage: str


@dataclass(frozen=True)
class Finished:
    """The job ended: ``state`` is the server's (``completed``, ``completed_with_failures``,
    ``failed`` or ``cancelled``); failed frames name their error."""

    state: str
    failed: dict[int, FrameBridgeError] = field(default_factory=dict)
    error: FrameBridgeError | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == "completed" and not self.failed


Message = FrameStored | Progressed | Finished


def check_server(client: Client, required_op: str | None = None) -> session.ServerInfo:
    """The shared server check, with fixes that point at the add-on preferences."""
    return session.check_server(client, required_op, host="Blender add-on",
                                where="the address / connection file in the add-on preferences")


class JobRunner:
    """One job driven from a timer: submit, poll within a time budget, cancel."""

    def __init__(self, client: Client, op: str, frames: list[int], source: Callable[[int], Mapping[str, np.ndarray]],
                 sink: Callable[[int, Mapping[str, np.ndarray]], None], *, params: dict[str, Any],
                 shot: dict[str, Any], backend: str | None, job_buffers: Mapping[str, np.ndarray] | None = None):
        self.client = client
        self.sink = sink
        self.total = len(frames)
        self.finished: Finished | None = None
        self.job = client.submit(op, frames, source, params=params, shot=shot, backend=backend, keep_results=False,
                                 job_buffers=job_buffers)

    def poll(self, budget: float = 0.05) -> list[Message]:
        """Handle what has arrived, for at most ``budget`` seconds; never blocks longer."""
        messages: list[Message] = []
        deadline = time.monotonic() + budget
        while self.finished is None:
            events = self.job.step(timeout=0.0)
            for event in events:
                messages.append(self._convert(event))
            if not events or time.monotonic() >= deadline:
                break
        return messages

    def cancel(self) -> None:
        """Stop the server job; the server answers with ``done`` in state ``cancelled``."""
        if self.finished is None:
            self.job.cancel()
            self.finished = Finished("cancelled", error=JobCancelled("cancelled by the user"))

    def _convert(self, event: Any) -> Message:
        if isinstance(event, ResultEvent):
            self.sink(event.frame, event.buffers)
            return FrameStored(event.frame)
        if isinstance(event, ProgressEvent):
            return Progressed(event.done, event.total, event.stage)
        if isinstance(event, DoneEvent):
            self.finished = Finished(event.state, dict(event.failed), event.error)
            return self.finished
        raise FrameBridgeError(f"unexpected event {type(event).__name__} from the client")


def connection_file_hint(path: str) -> str:
    """Which connection file will be used and what it is (a server's own file, or a client file and for whom)."""
    from framebridge.protocol.connection import ConnectionInfo, default_connection_path

    chosen = Path(path) if path else default_connection_path()
    label = str(chosen) if path else f"{chosen} (default)"
    try:
        info = ConnectionInfo.read(chosen)
    except FrameBridgeError as error:
        return f"{label}: {error.message}"
    if info.is_client_file:
        return f"{label}: client {info.client_name!r} of {info.address}"
    return f"{label}: the server's own file, {info.address}"
