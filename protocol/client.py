"""The client the Blender and Nuke plugins use: no threads, no torch, one DEALER socket.

Every call drives the socket itself, so a host's timer can call
:meth:`Job.step` with ``timeout=0`` and never block its UI. Messages for other
jobs are queued on their :class:`Job` while a call waits for its own reply.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

import numpy as np
import zmq

from .buffers import Limits
from .connection import ConnectionInfo, default_connection_path, dial_address
from .errors import FrameBridgeError, FrameFailed, InvalidParams, RequestTimeout, ServerUnreachable, error_from_wire
from .handshake import HandshakeWatch
from .link import integrity_protected
from .messages import (
    REPLIES,
    Ack,
    Accepted,
    Cancel,
    CapabilitiesRequest,
    Done,
    ErrorReply,
    FrameIn,
    JobsRequest,
    Ping,
    Progress,
    Result,
    Status,
    StatusRequest,
    Submit,
    expand_failures,
)
from .probe import listening
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
    a :class:`ConnectionInfo`, or ``address`` and ``key`` to choose another. A
    client file presents its own CURVE key pair; a refused handshake raises
    :class:`~framebridge.protocol.errors.ClientRejected` or
    :class:`~framebridge.protocol.errors.ServerKeyMismatch` on the next call.
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
                    connection = replace(connection, address=address)
        self.connection = connection
        self.timeout = timeout
        self.job_timeout = job_timeout
        self.codec = Codec(connection.key, limits=limits, incoming=REPLIES,
                           integrity_protected=integrity_protected(connection.address, bool(connection.curve_public)))
        self.context = zmq.Context()
        self.socket: zmq.Socket | None = None
        self._handshake: HandshakeWatch | None = None
        self._pending: dict[str, Envelope | None] = {}
        self._jobs: dict[str, Job] = {}
        self._connect()

    def _connect(self) -> None:
        socket = self.context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SNDHWM, 0)
        socket.setsockopt(zmq.RCVHWM, 0)
        socket.setsockopt(zmq.MAXMSGSIZE, self.codec.limits.max_message_bytes)
        self._poller = zmq.Poller()
        if self.connection.curve_public:
            public, secret = self.connection.client_keypair() or zmq.curve_keypair()
            socket.curve_serverkey = self.connection.curve_public
            socket.curve_publickey = public
            socket.curve_secretkey = secret
            self._handshake = HandshakeWatch(socket, self.connection.address, self.connection.client_name)
            self._poller.register(self._handshake.monitor, zmq.POLLIN)
        self._poller.register(socket, zmq.POLLIN)
        socket.connect(dial_address(self.connection.address))
        self.socket = socket

    def reconnect(self) -> None:
        """Drop the socket and open a new one; jobs continue after :meth:`Job.resume`."""
        self._close_socket()
        self._pending.clear()
        self._connect()

    def close(self) -> None:
        self._close_socket()
        self.context.term()

    def _close_socket(self) -> None:
        if self._handshake is not None:
            self._handshake.close()
            self._handshake = None
        if self.socket is not None:
            self.socket.close(linger=0)
            self.socket = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def ping(self, timeout: float | None = None) -> dict[str, Any]:
        """Server and protocol version, and the round trip in seconds."""
        if listening(self.connection.address) is False:
            raise ServerUnreachable(f"no FrameBridge server is running at {self.connection.address}",
                                    fix="start one with `framebridge serve` (the connection file names a server "
                                        "that has stopped)")
        start = time.perf_counter()
        reply = self.request(Ping(), timeout=timeout)
        return {**reply.body.to_wire(), "round_trip": time.perf_counter() - start}

    def capabilities(self, timeout: float | None = None) -> dict[str, Any]:
        return self.request(CapabilitiesRequest(), timeout=timeout).body.to_wire()

    def jobs(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Every job on the server with its owner and counts (the server's owner only; others get ``forbidden``)."""
        return list(self.request(JobsRequest(), timeout=timeout).body.jobs)

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
        self.put(self.codec.encode(body, job=job, buffers=buffers, message_id=message_id))
        return message_id

    def put(self, frames: list[Any]) -> None:
        """Queue one encoded message without ever blocking for good.

        zmq drops the connection's queue when the server refuses the handshake and
        blocks a send until it reconnects; while it cannot take the message, a refused
        key is raised from the handshake's events, and no connection within the
        timeout is :class:`ServerUnreachable`.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.socket.send_multipart(frames, copy=False, flags=zmq.NOBLOCK)
                return
            except zmq.Again:
                if self._handshake is not None:
                    self._handshake.monitor.poll(50)
                    self._handshake.check()
                else:
                    time.sleep(0.05)
            if time.monotonic() > deadline:
                raise ServerUnreachable(f"could not reach {self.connection.address} within {self.timeout:g} s to send",
                                        fix="start the server with `framebridge serve`, or check the address and connection file")

    def _receive(self, timeout: float) -> bool:
        """Receive and route at most one message; False if none came within ``timeout``."""
        ready = dict(self._poller.poll(max(0, int(timeout * 1000))))
        if self._handshake is not None and self._handshake.monitor in ready:
            self._handshake.check()
        if self.socket not in ready:
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
        self._refetched = False

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
        self._refetched = False

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
            self.client.put(frames)
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
            missing = set(body.frames) - self.received
            if missing and not self._refetched:
                # A result went to a connection this job has since left (a frame of the old one arrived late):
                # the server still holds it, so ask once for everything unacknowledged, and the done again.
                self._refetched = True
                self.client.send(StatusRequest(resend=True), job=self.id)
                return None
            self.client._jobs.pop(self.id, None)
            self.failed.update({number: FrameFailed(f"the server finished frame {number} but its result never arrived")
                                for number in missing})
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
