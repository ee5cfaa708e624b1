"""The client the Blender and Nuke plugins use: no threads, no torch, one DEALER socket.

Every call drives the socket itself, so a host's timer can call
:meth:`Job.step` with ``timeout=0`` and never block its UI. Messages for other
jobs are queued on their :class:`Job` while a call waits for its own reply.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

import numpy as np
import zmq

from .buffers import Limits
from .connection import ConnectionInfo, default_connection_path
from .errors import FrameBridgeError, FrameFailed, InvalidParams, RequestTimeout, ServerUnreachable, error_from_wire
from .messages import (
    REPLIES,
    Ack,
    Accepted,
    Cancel,
    CapabilitiesRequest,
    Done,
    ErrorReply,
    FrameIn,
    Ping,
    Progress,
    Result,
    Status,
    StatusRequest,
    Submit,
    expand_failures,
)
from .wire import Codec, Envelope, new_id

__all__ = ["Client", "Job", "JobOutcome", "ResultEvent", "ProgressEvent", "DoneEvent", "FrameSource"]

FrameSource = Union[Callable[[int], Mapping[str, np.ndarray]], Mapping[int, Mapping[str, np.ndarray]]]


@dataclass(frozen=True)
class ResultEvent:
    frame: int
    buffers: dict[str, np.ndarray]
    meta: dict[str, Any]


@dataclass(frozen=True)
class ProgressEvent:
    received: int
    done: int
    failed: int
    total: int
    stage: str
    eta: float | None


@dataclass(frozen=True)
class DoneEvent:
    state: str
    frames: list[int]
    failed: dict[int, FrameBridgeError]
    error: FrameBridgeError | None
    warnings: dict[int, list[str]] = field(default_factory=dict)


Event = Union[ResultEvent, ProgressEvent, DoneEvent]


@dataclass
class JobOutcome:
    """How a job ended: every submitted frame is in ``results`` or ``failed`` unless cancelled."""

    state: str
    results: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    failed: dict[int, FrameBridgeError] = field(default_factory=dict)
    error: FrameBridgeError | None = None


class Client:
    """A connection to one FrameBridge server.

    ``Client()`` reads the default connection file; pass ``connection_file``,
    a :class:`ConnectionInfo`, or ``address`` and ``key`` to choose another.
    """

    def __init__(self, connection_file: str | Path | None = None, *, address: str | None = None,
                 key: str | bytes | None = None, connection: ConnectionInfo | None = None, timeout: float = 10.0,
                 job_timeout: float = 60.0, limits: Limits | None = None):
        if connection is None:
            if address and key:
                connection = ConnectionInfo(address, key.encode() if isinstance(key, str) else key)
            else:
                connection = ConnectionInfo.read(connection_file or default_connection_path())
                if address:
                    connection = ConnectionInfo(address, connection.key, connection.curve_public)
        self.connection = connection
        self.timeout = timeout
        self.job_timeout = job_timeout
        self.codec = Codec(connection.key, limits=limits, incoming=REPLIES)
        self.context = zmq.Context()
        self.socket: zmq.Socket | None = None
        self._pending: dict[str, Envelope | None] = {}
        self._jobs: dict[str, Job] = {}
        self._connect()

    def _connect(self) -> None:
        socket = self.context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SNDHWM, 0)
        socket.setsockopt(zmq.RCVHWM, 0)
        socket.setsockopt(zmq.MAXMSGSIZE, self.codec.limits.max_message_bytes)
        if self.connection.curve_public:
            public, secret = zmq.curve_keypair()
            socket.curve_serverkey = self.connection.curve_public
            socket.curve_publickey = public
            socket.curve_secretkey = secret
        socket.connect(self.connection.address)
        self.socket = socket

    def reconnect(self) -> None:
        """Drop the socket and open a new one; jobs continue after :meth:`Job.resume`."""
        if self.socket is not None:
            self.socket.close(linger=0)
        self._pending.clear()
        self._connect()

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
            self.socket = None
        self.context.term()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def ping(self, timeout: float | None = None) -> dict[str, Any]:
        """Server and protocol version, and the round trip in seconds."""
        start = time.perf_counter()
        reply = self.request(Ping(), timeout=timeout)
        return {**reply.body.to_wire(), "round_trip": time.perf_counter() - start}

    def capabilities(self, timeout: float | None = None) -> dict[str, Any]:
        return self.request(CapabilitiesRequest(), timeout=timeout).body.to_wire()

    def submit(self, op: str, frames: list[int], source: FrameSource, *, params: dict[str, Any] | None = None,
               shot: dict[str, Any] | None = None, backend: str | None = None, job_id: str | None = None,
               keep_results: bool = True, in_flight: int | None = None,
               job_buffers: Mapping[str, np.ndarray] | None = None) -> Job:
        """Open a job; frames are read from ``source`` lazily, as the credit window allows.

        ``in_flight`` caps the frames sent but not yet answered (a result or a
        failure), e.g. 1 for lockstep; None sends as far ahead as the credit allows.
        ``job_buffers`` travel once, with the submit, for the whole job (a source
        portrait, an audio track).
        """
        if in_flight is not None and in_flight < 1:
            raise InvalidParams(f"in_flight must be at least 1 or None, got {in_flight}")
        job_id = job_id or new_id()
        submit = Submit(op=op, frames=[int(n) for n in frames], params=params or {}, shot=shot or {}, backend=backend)
        buffers = [(name, array, None) for name, array in (job_buffers or {}).items()]
        accepted = self.request(submit, job=job_id, buffers=buffers).body
        assert isinstance(accepted, Accepted)
        job = Job(self, job_id, op, list(submit.frames), source, accepted.credit, accepted.backend, keep_results,
                  in_flight)
        self._jobs[job_id] = job
        return job

    def attach(self, job_id: str, source: FrameSource | None = None, *, keep_results: bool = True) -> Job:
        """Take over a job from another connection (e.g. after a host restart) and fetch what it missed."""
        status = self.request(StatusRequest(resend=False), job=job_id).body
        assert isinstance(status, Status)
        job = Job(self, job_id, status.op, [], source, status.credit, "", keep_results)
        self._jobs[job_id] = job
        job.resume()
        return job

    def request(self, body: Any, *, job: str | None = None, timeout: float | None = None,
                buffers: Sequence[tuple[str, np.ndarray, int | None]] = ()) -> Envelope:
        """Send one request and wait for its reply, raising the error the server named."""
        message_id = self.send(body, job=job, buffers=buffers)
        self._pending[message_id] = None
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while (reply := self._pending[message_id]) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ServerUnreachable(
                        f"no answer from {self.connection.address} to {body.TYPE!r} within {self.timeout if timeout is None else timeout:g} s",
                        fix="start the server with `framebridge serve`, or check the address and connection file",
                    )
                self._receive(remaining)
        finally:
            self._pending.pop(message_id, None)
        if isinstance(reply.body, ErrorReply):
            raise error_from_wire(reply.body.to_wire())
        return reply

    def send(self, body: Any, *, job: str | None = None, buffers: Sequence[tuple[str, np.ndarray, int | None]] = ()) -> str:
        message_id = new_id()
        frames = self.codec.encode(body, job=job, buffers=buffers, message_id=message_id)
        self.socket.send_multipart(frames, copy=False)
        return message_id

    def _receive(self, timeout: float) -> bool:
        """Receive and route at most one message; False if none came within ``timeout``."""
        if not self.socket.poll(max(0, int(timeout * 1000))):
            return False
        envelope = self.codec.decode(self.socket.recv_multipart(copy=False))
        if envelope.reply_to in self._pending:
            self._pending[envelope.reply_to] = envelope
        elif envelope.job in self._jobs:
            self._jobs[envelope.job]._inbox.append(envelope)
        return True


class Job:
    """A running job: sends its frames under the credit window, collects its results."""

    def __init__(self, client: Client, job_id: str, op: str, frames: list[int], source: FrameSource | None,
                 credit: int, backend: str, keep_results: bool, in_flight: int | None = None):
        self.client = client
        self.id = job_id
        self.op = op
        self.frames = frames
        self.backend = backend
        self.keep_results = keep_results
        self.in_flight = in_flight
        self.state = "running"
        self.results: dict[int, dict[str, np.ndarray]] = {}
        self.received: set[int] = set()
        self.failed: dict[int, FrameBridgeError] = {}
        self.error: FrameBridgeError | None = None
        self.progress: ProgressEvent | None = None
        self._source = source
        self._unsent = deque(frames)
        self._sent = 0
        self._credit = credit
        self._inbox: deque[Envelope] = deque()
        self._last_message = time.monotonic()
        self._asked_status = False

    @property
    def finished(self) -> bool:
        return self.state != "running"

    def step(self, timeout: float = 0.0) -> list[Event]:
        """Send what the credit allows, then return the events that arrive within ``timeout``."""
        self._send_frames()
        deadline = time.monotonic() + timeout
        while not self._inbox and not self.finished:
            if not self.client._receive(max(0.0, deadline - time.monotonic())) and time.monotonic() >= deadline:
                break
        events = []
        acknowledged = []
        while self._inbox:
            event = self._handle(self._inbox.popleft())
            if isinstance(event, ResultEvent):
                acknowledged.append(event.frame)
            if event is not None:
                events.append(event)
        if acknowledged:
            self.client.send(Ack(frames=acknowledged), job=self.id)
        self._check_idle()
        self._send_frames()
        return events

    def __iter__(self) -> Iterator[Event]:
        while not self.finished:
            yield from self.step(timeout=0.25)

    def wait(self, on_event: Callable[[Event], None] | None = None, timeout: float | None = None) -> JobOutcome:
        """Run to the end, calling ``on_event`` for each event; the outcome holds every frame's fate."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished:
            if deadline is not None and time.monotonic() > deadline:
                raise RequestTimeout(f"job {self.id} did not finish within {timeout:g} s")
            for event in self.step(timeout=0.25):
                if on_event is not None:
                    on_event(event)
        return JobOutcome(self.state, dict(self.results), dict(self.failed), self.error)

    def cancel(self) -> None:
        """Ask the server to stop; it ends the job within one frame and sends ``done``."""
        self._unsent.clear()
        self.client.request(Cancel(), job=self.id)

    def resume(self) -> None:
        """After :meth:`Client.reconnect`: learn what the server has, resend what it lacks, refetch results."""
        self.client._jobs[self.id] = self
        status = self.client.request(StatusRequest(resend=True), job=self.id).body
        assert isinstance(status, Status)
        self.frames = self.frames or list(status.frames)
        received = set(status.received)
        self._unsent = deque(n for n in self.frames if n not in received)
        if self._source is None and self._unsent and status.state in ("queued", "running"):
            raise FrameBridgeError(f"job {self.id} still needs frames {list(self._unsent)[:5]}... but no source was given")
        self._sent = len(received)
        self._credit = status.credit
        self._last_message = time.monotonic()
        self._asked_status = False

    def _send_frames(self) -> None:
        while self._unsent and self._sent < self._credit and not self.finished and self._may_send_ahead():
            number = self._unsent.popleft()
            try:
                buffers = self._source(number) if callable(self._source) else self._source[number]
                frames = self.client.codec.encode(FrameIn(frame=number), job=self.id,
                                                  buffers=[(name, array, number) for name, array in buffers.items()])
            except Exception as error:
                # A frame the host cannot read or send is named as failed; the job goes on with the others.
                if not isinstance(error, FrameBridgeError):
                    error = FrameFailed(f"the frame source failed on frame {number}: {type(error).__name__}: {error}")
                frames = self.client.codec.encode(FrameIn(frame=number, error=error.to_wire()), job=self.id)
            self.client.socket.send_multipart(frames, copy=False)
            self._sent += 1

    def _may_send_ahead(self) -> bool:
        if self.in_flight is None:
            return True
        answered = len(self.received) + (self.progress.failed if self.progress else 0)
        return self._sent - answered < self.in_flight

    def _handle(self, envelope: Envelope) -> Event | None:
        self._last_message = time.monotonic()
        self._asked_status = False
        body = envelope.body
        if isinstance(body, Result):
            if body.frame in self.received:
                return None
            self.received.add(body.frame)
            self.failed.pop(body.frame, None)
            if self.keep_results:
                self.results[body.frame] = envelope.buffers
            return ResultEvent(body.frame, envelope.buffers, body.meta)
        if isinstance(body, Progress):
            self._credit = max(self._credit, body.credit)
            self.progress = ProgressEvent(body.received, body.done, body.failed, body.total, body.stage, body.eta)
            return self.progress
        if isinstance(body, Done):
            self.client._jobs.pop(self.id, None)
            self.state = body.state
            self.failed.update({number: error_from_wire(body) for number, body in expand_failures(body.failed).items()})
            self.error = error_from_wire(body.error) if body.error else None
            warnings: dict[int, list[str]] = {}
            for warning in body.warnings:
                if isinstance(warning, dict) and type(warning.get("frame")) is int:
                    warnings.setdefault(warning["frame"], []).append(str(warning.get("message", "")))
            return DoneEvent(body.state, list(body.frames), dict(self.failed), self.error, warnings)
        if isinstance(body, ErrorReply):
            raise error_from_wire(body.to_wire())
        return None

    def _check_idle(self) -> None:
        """A silent server gets one status request (which also resends results), then a timeout."""
        idle = time.monotonic() - self._last_message
        if self.finished or idle < self.client.job_timeout:
            return
        if self._asked_status:
            raise RequestTimeout(f"job {self.id}: no message from the server for {idle:.0f} s",
                                 fix="check that the server is running; Job.resume() continues where it stopped")
        self._asked_status = True
        self._last_message = time.monotonic()
        self.client.send(StatusRequest(resend=True), job=self.id)
