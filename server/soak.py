"""A week of careless and hostile clients in a few minutes: the soak run behind the CI test and ``benchmarks/soak.py``.

One server; ``clients`` threads each run jobs in turn, every job one of these kinds
(by its number, so a run is reproducible):

- ``stream``: an echo job of 1-3 frames whose results are checked by digest;
- ``cancel``: a slow job cancelled after its first result;
- ``reconnect``: a job whose client drops its socket mid-job, reconnects and resumes;
- ``unread``: a job sent from a socket that never reads a reply, then closed;
- ``idle``: a submit no frame ever follows (the server ends it after its input timeout);
- ``malformed``: a broken message (garbage, a wrong key, too many frames, nesting,
  a repeated key), then a normal job on the same connection.

Every ``report_every`` jobs it records the server's file descriptors, threads and
memory, and the round trip of the ``stream`` jobs (submit to done).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import msgpack
import numpy as np
import xxhash
import zmq

from framebridge.protocol.errors import FrameBridgeError
from framebridge.protocol.messages import FrameIn, Submit
from framebridge.protocol.wire import TAG, Codec, new_id

from .launch import Resources, ServerProcess, spawn_server

__all__ = ["KINDS", "Checkpoint", "SoakReport", "soak"]

KINDS = ("stream", "stream", "cancel", "stream", "reconnect", "unread", "stream", "idle", "malformed", "stream")
INPUT_TIMEOUT = 1.0


@dataclass(frozen=True)
class Checkpoint:
    """The server's resources after ``jobs`` jobs, and the stream round trips since the previous checkpoint."""

    jobs: int
    seconds: float
    resources: Resources
    round_trips: tuple[float, ...]


@dataclass
class SoakReport:
    """What a soak run saw: checkpoints, the settled resources after warm-up and at the end, and every failure."""

    warm: Resources | None = None
    final: Resources | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    fresh_client_seconds: float = 0.0


def percentile(values: list[float] | tuple[float, ...], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def _frames(job_number: int, count: int) -> dict[int, dict[str, np.ndarray]]:
    rng = np.random.default_rng(job_number)
    return {number: {"beauty": rng.standard_normal((16, 16, 4)).astype(np.float16)} for number in range(1, count + 1)}


def _check(outcome_results: dict[int, dict[str, np.ndarray]], sent: dict[int, dict[str, np.ndarray]], label: str) -> None:
    for number, buffers in outcome_results.items():
        expected = xxhash.xxh3_128_hexdigest(sent[number]["beauty"].tobytes())
        if xxhash.xxh3_128_hexdigest(np.ascontiguousarray(buffers["beauty"]).tobytes()) != expected:
            raise AssertionError(f"{label}: frame {number} came back with another digest")


class _Worker:
    """One client thread's connection and the kinds of job it runs."""

    def __init__(self, server: ServerProcess, index: int, report: SoakReport, lock: threading.Lock):
        self.server = server
        self.index = index
        self.report = report
        self.lock = lock
        self.client = server.client(timeout=30, job_timeout=10)
        self.info = server.connection
        self.context = zmq.Context()
        self.round_trips: list[float] = []

    def run(self, job_number: int) -> None:
        kind = KINDS[job_number % len(KINDS)]
        label = f"job {job_number} ({kind})"
        try:
            getattr(self, kind)(job_number, label)
        except Exception as error:  # every failure is reported by the soak, not raised in a thread
            with self.lock:
                self.report.failures.append(f"{label}: {type(error).__name__}: {error}")
        with self.lock:
            self.report.counts[kind] = self.report.counts.get(kind, 0) + 1

    def stream(self, job_number: int, label: str) -> None:
        sent = _frames(job_number, 1 + job_number % 3)
        start = time.perf_counter()
        outcome = self.client.submit("echo", sorted(sent), sent, job_id=f"soak-{job_number}").wait(timeout=60)
        self.round_trips.append(time.perf_counter() - start)
        if outcome.state != "completed" or sorted(outcome.results) != sorted(sent):
            raise AssertionError(f"{label}: {outcome.state}, {sorted(outcome.results)} of {sorted(sent)}")
        _check(outcome.results, sent, label)

    def cancel(self, job_number: int, label: str) -> None:
        sent = _frames(job_number, 4)
        job = self.client.submit("echo", sorted(sent), sent, params={"delay": 0.05}, job_id=f"soak-{job_number}")
        deadline = time.monotonic() + 30
        while not job.received and not job.finished and time.monotonic() < deadline:
            job.step(timeout=0.05)
        if not job.finished:
            job.cancel()
        outcome = job.wait(timeout=60)
        if outcome.state not in ("cancelled", "completed"):
            raise AssertionError(f"{label}: ended {outcome.state}")
        _check(outcome.results, sent, label)

    def reconnect(self, job_number: int, label: str) -> None:
        sent = _frames(job_number, 3)
        job = self.client.submit("echo", sorted(sent), sent, params={"delay": 0.02}, job_id=f"soak-{job_number}")
        deadline = time.monotonic() + 30
        while not job.received and not job.finished and time.monotonic() < deadline:
            job.step(timeout=0.05)
        self.client.reconnect()
        job.resume()
        outcome = job.wait(timeout=60)
        if outcome.state != "completed" or sorted(outcome.results) != sorted(sent):
            raise AssertionError(f"{label}: {outcome.state}, {sorted(outcome.results)} of {sorted(sent)}")
        _check(outcome.results, sent, label)

    def unread(self, job_number: int, label: str) -> None:
        codec = Codec(self.info.key)
        silent = self._socket()
        silent.setsockopt(zmq.RCVHWM, 1)
        try:
            sent = _frames(job_number, 2)
            silent.send_multipart(codec.encode(Submit(op="echo", frames=sorted(sent)), job=f"soak-{job_number}"))
            for number, buffers in sent.items():
                silent.send_multipart(codec.encode(FrameIn(frame=number), job=f"soak-{job_number}",
                                                   buffers=[(name, array, number) for name, array in buffers.items()]))
            time.sleep(0.05)
        finally:
            silent.close(linger=200)

    def idle(self, job_number: int, label: str) -> None:
        self.client.request(Submit(op="echo", frames=[1, 2]), job=f"soak-{job_number}")

    def malformed(self, job_number: int, label: str) -> None:
        header = {"v": [1, 0], "type": "ping", "id": new_id(), "time": time.time(), "session": "soak", "job": None,
                  "reply_to": None, "body": {}, "buffers": []}
        packed = msgpack.packb(header, use_bin_type=True)
        sign = lambda data, key=self.info.key: hmac.new(key, TAG + data, hashlib.sha256).hexdigest().encode()  # noqa: E731
        packer = msgpack.Packer(use_bin_type=True)
        repeated = packer.pack_map_header(len(header) + 1) + b"".join(
            packer.pack(key) + packer.pack(value) for key, value in [*header.items(), ("type", "cancel")])
        nested = msgpack.packb({**header, "body": "@@"}, use_bin_type=True).replace(
            msgpack.packb("@@"), b"\x81\xa1a" * 60 + b"\xc0")  # 60 maps deep
        broken = [
            [b"garbage"],
            [TAG, sign(packed, b"wrong key" * 4), packed],
            [TAG, sign(packed), packed, *[b"\0"] * 80],
            [TAG, sign(nested), nested],
            [TAG, sign(repeated), repeated],
        ][job_number // len(KINDS) % 5]
        stranger = self._socket()
        try:
            stranger.send_multipart(broken)
            stranger.poll(2000)
        finally:
            stranger.close(linger=0)
        self.stream(job_number, label)

    def _socket(self) -> zmq.Socket:
        socket = self.context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(self.info.address)
        return socket

    def close(self) -> None:
        self.client.close()
        self.context.term()


def settle(server: ServerProcess, seconds: float = INPUT_TIMEOUT + 2.5) -> Resources:
    """The server's resources once idle submits have timed out and job threads have ended."""
    time.sleep(seconds)
    return server.resources()


def soak(directory: Path, *, jobs: int = 5_000, clients: int = 8, warm_up: int = 500, report_every: int = 500,
         on_checkpoint: Callable[[Checkpoint], None] | None = None) -> SoakReport:
    """Run ``jobs`` jobs from ``clients`` threads against one fresh server and report what it held."""
    report = SoakReport()
    lock = threading.Lock()
    counter = iter(range(jobs))
    done = [0]
    start = time.monotonic()
    with spawn_server(directory, "--input-timeout", str(INPUT_TIMEOUT), "--workers", "2") as server:
        workers = [_Worker(server, index, report, lock) for index in range(clients)]

        def drive(worker: _Worker, stop_at: int) -> None:
            while True:
                with lock:
                    if done[0] >= stop_at:
                        return
                    job_number = next(counter, None)
                    if job_number is None:
                        return
                    done[0] += 1
                worker.run(job_number)

        checkpoints = list(range(report_every, jobs + 1, report_every))
        if warm_up not in checkpoints:
            checkpoints = sorted({warm_up, *checkpoints})
        for stop_at in checkpoints:
            threads = [threading.Thread(target=drive, args=(worker, stop_at), daemon=True) for worker in workers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=600)
            if any(thread.is_alive() for thread in threads):
                report.failures.append(f"a client thread hung before job {stop_at}")
                break
            trips = tuple(trip for worker in workers for trip in worker.round_trips)
            for worker in workers:
                worker.round_trips.clear()
            resources = settle(server) if stop_at == warm_up else server.resources()
            if stop_at == warm_up:
                report.warm = resources
            checkpoint = Checkpoint(stop_at, time.monotonic() - start, resources, trips)
            report.checkpoints.append(checkpoint)
            if on_checkpoint is not None:
                on_checkpoint(checkpoint)
        for worker in workers:
            worker.close()
        report.final = settle(server)
        fresh_start = time.perf_counter()
        try:
            with server.client(timeout=5) as fresh:
                fresh.ping()
                sent = _frames(jobs, 2)
                outcome = fresh.submit("echo", sorted(sent), sent).wait(timeout=10)
                _check(outcome.results, sent, "fresh client")
                if outcome.state != "completed":
                    report.failures.append(f"a fresh client's job ended {outcome.state}")
        except FrameBridgeError as error:
            report.failures.append(f"a fresh client was not served: {error}")
        report.fresh_client_seconds = time.perf_counter() - fresh_start
    return report
