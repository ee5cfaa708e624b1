"""The ZeroMQ front: one ROUTER socket, one thread that owns it, never waiting on compute.

Requests are decoded and answered here (ping, capabilities, status, cancel,
ack) or filed into jobs (submit, frame). Workers hand their encoded messages
back through an inproc PUSH/PULL pair; this thread routes each one to the
job's current owner, which changes when a client reconnects and asks ``status``.
Who sent a message, and whose jobs it may touch, is the :class:`~.auth.Gatekeeper`'s
to say: each message is checked and answered with its sender's own key.
"""

from __future__ import annotations

import logging
import platform
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import zmq

from framebridge.protocol.buffers import Limits
from framebridge.protocol.connection import ConnectionInfo, is_loopback
from framebridge.protocol.errors import (
    BindFailed,
    ClientRevoked,
    CreditExceeded,
    Forbidden,
    FrameBridgeError,
    InsecureBind,
    InvalidParams,
    MalformedMessage,
    ServerBusy,
    UnknownJob,
    UnknownOp,
    error_from_wire,
)
from framebridge.protocol.link import integrity_protected
from framebridge.protocol.messages import (
    Accepted,
    Ack,
    Cancel,
    Capabilities,
    CapabilitiesRequest,
    FrameIn,
    JobList,
    JobsRequest,
    Ping,
    Pong,
    Result,
    StatusRequest,
    Submit,
)
from framebridge.protocol.version import PROTOCOL_VERSION
from framebridge.protocol.wire import Codec, Envelope

from . import __version__
from .auth import Gatekeeper, Principal
from .clients import ClientRegistry
from .intake import receive
from .jobs import Job, JobManager
from .ops import Op, default_ops
from .ops.base import InputFrame
from .peers import PeerRates

__all__ = ["Server"]

log = logging.getLogger(__name__)

_JOB_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
MAX_FRAMES_PER_JOB = 20_000
MAX_ACTIVE_JOBS = 64
MAX_JOBS_PER_PEER = 16
HEARTBEAT_SECONDS = 2.0
PEER_SEND_QUEUE = 256
PEER_REQUESTS_QUEUED = 8


class Server:
    """Binds the connection's address and serves until :meth:`stop`.

    With CURVE keys, only the server's own key and the active keys of ``registry``
    (the clients issued by ``framebridge connection export``) may connect. With an
    ``executor`` (:class:`~.scale.executor.ChunkExecutor`), op work runs on its worker pool.
    """

    def __init__(self, connection: ConnectionInfo, *, ops: dict[str, Op] | None = None, limits: Limits | None = None,
                 workers: int = 1, spool_dir: Path | None = None, retain_bytes: int = 1 << 30,
                 input_timeout: float = 600.0, registry: ClientRegistry | None = None, executor: Any = None):
        if not is_loopback(connection.address) and not connection.curve_secret:
            raise InsecureBind(f"refusing to bind {connection.address} without CURVE keys",
                               fix="pass --curve, or bind a loopback address")
        self.connection = connection
        self.ops = ops if ops is not None else default_ops()
        self.limits = limits or Limits()
        self.codec = Codec(connection.key, limits=self.limits,
                           integrity_protected=integrity_protected(connection.address, bool(connection.curve_secret)))
        self.gate = Gatekeeper(connection, self.codec, registry, self.limits)
        self.context = zmq.Context()
        self.gate.start(self.context)
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # What one peer may have queued: replies beyond SNDHWM are dropped (results stay stored for a resend).
        self.router.setsockopt(zmq.SNDHWM, PEER_SEND_QUEUE)
        # What one peer may have waiting to be read: its credit window of frames and a few requests.
        self.router.setsockopt(zmq.RCVHWM, self.limits.credit_window + PEER_REQUESTS_QUEUED)
        # ZeroMQ drops a peer that sends a single frame above this without a word, before reading the frame.
        self.router.setsockopt(zmq.MAXMSGSIZE, self.limits.max_message_bytes)
        self.router.setsockopt(zmq.LINGER, 0)
        if connection.curve_secret:
            self.router.curve_server = True
            self.router.curve_secretkey = connection.curve_secret
            self.router.curve_publickey = connection.curve_public
        try:
            self.router.bind(connection.address)
        except zmq.ZMQError as error:
            self.router.close(linger=0)
            self.gate.stop()
            self.context.term()
            in_use = error.errno == zmq.EADDRINUSE
            raise BindFailed(
                f"cannot listen on {connection.address}: {error.strerror}",
                fix="another server (maybe `framebridge serve`) is using that port: stop it, or pass --address "
                    "tcp://127.0.0.1:* for any free port" if in_use else "bind an address of this machine, e.g. tcp://127.0.0.1:5581",
                details={"address": connection.address},
            ) from None
        self.address = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        self._outbox_address = f"inproc://framebridge-outbox-{id(self)}"
        self.outbox = self.context.socket(zmq.PULL)
        self.outbox.setsockopt(zmq.RCVHWM, 0)
        self.outbox.bind(self._outbox_address)
        # One PUSH socket for every job thread, used under a lock: a socket per thread would leak one per job.
        self._pusher = self.context.socket(zmq.PUSH)
        self._pusher.setsockopt(zmq.SNDHWM, 0)
        self._pusher.connect(self._outbox_address)
        self._pusher_lock = threading.Lock()
        self._stop = threading.Event()
        self._owned_spool = spool_dir is None
        self.spool_dir = Path(spool_dir or tempfile.mkdtemp(prefix="framebridge-spool-"))
        self.jobs = JobManager(self.codec, self._deliver, workers=workers, spool_dir=self.spool_dir,
                               retain_bytes=retain_bytes, input_timeout=input_timeout, executor=executor)
        self._last_heartbeat: dict[str, float] = {}
        self.rates = PeerRates()

    def serve_forever(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.outbox, zmq.POLLIN)
        next_housekeeping = time.monotonic()
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(100))
                if self.outbox in ready:
                    self._drain_outbox()
                if self.router in ready:
                    self._drain_requests()
                if time.monotonic() >= next_housekeeping:
                    self._housekeeping()
                    next_housekeeping = time.monotonic() + 1.0
        finally:
            self._shutdown()

    def stop(self) -> None:
        self._stop.set()

    def _drain_requests(self, budget: int = 64) -> None:
        for _ in range(budget):
            incoming = receive(self.router, self.limits)
            if incoming is None:
                return
            identity, message = incoming.identity, incoming.frames
            codec = self.codec
            try:
                principal = self.gate.identify(identity, incoming.identity_frame)
                codec = principal.codec
                self.gate.check_active(principal)
                if not self.rates.allow(identity):
                    raise ServerBusy(f"more than {self.rates.rate:.0f} messages a second from one connection",
                                     fix="send fewer messages (acknowledge results in batches)")
                if incoming.refused is not None:
                    raise incoming.refused
                envelope = codec.decode(message)
            except Exception as error:
                if not isinstance(error, FrameBridgeError):
                    log.warning("undecodable message: %s: %s", type(error).__name__, error)
                    error = MalformedMessage(f"the message could not be decoded ({type(error).__name__})")
                self._reply(identity, self.codec.error(error, **codec.peek(message)))
                continue
            try:
                self._handle(identity, envelope, principal)
            except FrameBridgeError as error:
                self._reply(identity, self.codec.error(error, job=envelope.job, reply_to=envelope.id))
            except Exception as error:
                log.exception("handling %s failed", envelope.type)
                internal = FrameBridgeError(f"internal error handling {envelope.type}: {type(error).__name__}: {error}")
                self._reply(identity, self.codec.error(internal, job=envelope.job, reply_to=envelope.id))

    def _drain_outbox(self, budget: int = 256) -> None:
        for _ in range(budget):
            try:
                frames = self.outbox.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            job = self.jobs.jobs.get(frames[0].bytes.decode())
            if job is not None and self.gate.may_deliver(job.id):
                self._last_heartbeat[job.id] = time.monotonic()
                self._reply(job.owner, frames[1:])

    def _reply(self, identity: bytes, frames: list[Any]) -> None:
        try:
            self.router.send_multipart([identity, *self.gate.sign_for(identity, frames)], flags=zmq.NOBLOCK, copy=False)
        except zmq.ZMQError as error:
            # ROUTER_MANDATORY: the peer is gone (EHOSTUNREACH) or does not read (EAGAIN at SNDHWM). Never wait:
            # the message is dropped, and a job's results stay in its store until a status with resend fetches them.
            log.debug("could not reach a client: %s", error)

    def _deliver(self, job_id: str, frames: list[Any]) -> None:
        """Called from job threads: hand a message to the socket thread."""
        with self._pusher_lock:
            if self._pusher.closed:
                return
            self._pusher.send_multipart([job_id.encode(), *frames], copy=False)

    def _handle(self, identity: bytes, envelope: Envelope, principal: Principal) -> None:
        body = envelope.body
        reply = lambda message: self._reply(identity, self.codec.encode(message, job=envelope.job, reply_to=envelope.id))  # noqa: E731
        if isinstance(body, Ping):
            reply(Pong(server_version=__version__, protocol_version=PROTOCOL_VERSION, time=time.time()))
        elif isinstance(body, CapabilitiesRequest):
            reply(self.capabilities())
        elif isinstance(body, Submit):
            job = self._submit(identity, envelope, body)
            self.gate.claim(job.id, principal)
            reply(Accepted(credit=job.credit, total=len(job.frames), backend=job.backend))
        elif isinstance(body, FrameIn):
            self._frame(identity, envelope, body, principal)
        elif isinstance(body, Cancel):
            job = self._job(envelope, principal)
            self.jobs.cancel(job)
            reply(job.status())
        elif isinstance(body, StatusRequest):
            job = self._job(envelope, principal)
            if body.resend:
                job.owner = identity
            reply(job.status())
            if body.resend:
                self._resend(identity, job)
        elif isinstance(body, Ack):
            self.jobs.acknowledge(self._job(envelope, principal), body.frames)
        elif isinstance(body, JobsRequest):
            if not principal.is_owner:
                raise Forbidden("only the server's owner may list every job",
                                fix="use the server's own connection file, on the server")
            reply(JobList(jobs=self.gate.job_list(self.jobs.jobs.values())))

    def capabilities(self) -> Capabilities:
        return Capabilities(
            server_version=__version__,
            protocol_version=PROTOCOL_VERSION,
            ops={name: op.describe() for name, op in sorted(self.ops.items())},
            limits=self.limits.to_wire(),
            models={},
            versions={"python": platform.python_version(), "numpy": np.__version__, "zmq": zmq.zmq_version()},
        )

    def _job(self, envelope: Envelope, principal: Principal) -> Job:
        """The sender's own job: another client's job is as unknown as one that never existed."""
        job = self.jobs.jobs.get(envelope.job or "")
        if job is None or not self.gate.owns(principal, job.id):
            raise UnknownJob(f"no job {envelope.job!r} on this server", fix="submit the job again")
        return job

    def _submit(self, identity: bytes, envelope: Envelope, body: Submit) -> Job:
        if not envelope.job or not _JOB_ID.match(envelope.job):
            raise MalformedMessage("a submit needs a job id of 1-64 characters [A-Za-z0-9_.-] in the header, "
                                   "starting with a letter, digit or underscore")
        if envelope.job in self.jobs.jobs:
            raise InvalidParams(f"job id {envelope.job!r} is already in use", fix="choose a new job id")
        if self.jobs.active() >= MAX_ACTIVE_JOBS:
            raise ServerBusy(f"the server already has {MAX_ACTIVE_JOBS} jobs queued or running",
                             fix="wait for a job to finish, or cancel one")
        if self.jobs.active_for(identity) >= MAX_JOBS_PER_PEER:
            raise ServerBusy(f"this connection already has {MAX_JOBS_PER_PEER} jobs queued or running",
                             fix="wait for one of your jobs to finish, or cancel one")
        op = self.ops.get(body.op)
        if op is None:
            raise UnknownOp(f"unknown op {body.op!r}", details={"allowed": sorted(self.ops)})
        if not body.frames or len(body.frames) > MAX_FRAMES_PER_JOB or len(set(body.frames)) != len(body.frames):
            raise InvalidParams(f"frames must be 1..{MAX_FRAMES_PER_JOB} distinct frame numbers")
        job_buffers = MappingProxyType(dict(envelope.buffers))
        plan = op.prepare(dict(body.params), dict(body.shot), list(body.frames), body.backend, job_buffers)
        job = self.jobs.create(envelope.job, op, plan, list(body.frames), dict(body.shot), identity,
                               self.limits.credit_window, job_buffers, params=dict(body.params), backend=body.backend)
        job.peer_version = envelope.version
        return job

    def _frame(self, identity: bytes, envelope: Envelope, body: FrameIn, principal: Principal) -> None:
        job = self._job(envelope, principal)
        if job.finished:
            return
        if body.frame not in job.frame_set:
            raise InvalidParams(f"frame {body.frame} is not part of job {job.id}")
        with job.lock:
            # The frame the op needs next is always taken, so frames sent out of order cannot wedge the window.
            if len(job.waiting) >= job.credit_window and body.frame not in job.received and body.frame != job.next_frame:
                raise CreditExceeded(
                    f"frame {body.frame} exceeds the credit window of {job.credit_window} frames",
                    fix="send a frame only while frames sent < the credit in the last progress message",
                    details={"frame": body.frame, "credit": job.credit},
                )
        job.owner = identity
        if body.error is not None:
            self.jobs.add_frame(job, InputFrame(body.frame, {}, failure=error_from_wire(body.error)))
        else:
            self.jobs.add_frame(job, InputFrame(body.frame, envelope.buffers))

    def _resend(self, identity: bytes, job: Job) -> None:
        for frame in job.results.frames():
            stored = job.results.get(frame)
            if stored is not None:
                described, meta = stored
                self._reply(identity, self.codec.encode_described(Result(frame=frame, meta=meta), job=job.id,
                                                                  described=described))
        if job.finished:
            self._reply(identity, self.codec.encode(job.done_message(), job=job.id))

    def _housekeeping(self) -> None:
        self._end_revoked_jobs(self.gate.refresh())
        now = time.monotonic()
        for job in list(self.jobs.jobs.values()):
            if (job.state == "running" and now - self._last_heartbeat.get(job.id, 0.0) > HEARTBEAT_SECONDS
                    and self.gate.may_deliver(job.id)):
                self._last_heartbeat[job.id] = now
                self._reply(job.owner, self.codec.encode(job.progress(), job=job.id))
        self.jobs.expire()
        self.rates.forget_idle()
        for job_id in set(self._last_heartbeat) - set(self.jobs.jobs):
            del self._last_heartbeat[job_id]
        self.gate.forget(self.gate.job_ids - set(self.jobs.jobs))

    def _end_revoked_jobs(self, revoked: set[str]) -> None:
        """Cancel the jobs of revoked clients and tell each open connection why."""
        for job_id in self.gate.jobs_of(revoked):
            job = self.jobs.jobs.get(job_id)
            if job is None:
                continue
            if not job.finished:
                self.jobs.cancel(job)
            error = ClientRevoked("this client was revoked on the server; its jobs were cancelled",
                                  fix="ask the server's owner for a new connection file")
            self._reply(job.owner, self.codec.error(error, job=job.id))

    def _shutdown(self) -> None:
        self.jobs.close()
        self.gate.stop()
        with self._pusher_lock:
            self._pusher.close(linger=0)
        self.outbox.close(linger=0)
        self.router.close(linger=0)
        self.context.term()
        if self._owned_spool:
            shutil.rmtree(self.spool_dir, ignore_errors=True)
