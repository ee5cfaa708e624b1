"""The Ray worker pool behind ``framebridge serve --ray``: one actor per GPU (or CPU slot), each keeping its models.

Ray is imported here only, and only when a pool is started. Every actor is a
:class:`~.worker.ChunkWorker` named ``<server pid>-<slot>`` (``-r<n>`` after its
n-th replacement) in the ``framebridge`` namespace, so ``ray`` tools can find it.
It runs several methods at once (a cancel or a record while a chunk streams).
Frames and results travel through Ray's object store; the Ray cluster is trusted
as the server's own machines are (Ray's transport is not FrameBridge's signed wire).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

from framebridge.protocol.errors import ClusterUnavailable, FrameBridgeError

from ..ops.base import FrameFailure, OutputFrame
from .executor import WorkerLost
from .worker import ChunkTask, ChunkWorker, decode_item

__all__ = ["RayPool", "start_pool", "NAMESPACE"]

log = logging.getLogger(__name__)

NAMESPACE = "framebridge"
FORWARDED_ENV = ("FRAMEBRIDGE_MODELS", "FRAMEBRIDGE_CACHE_DIR", "FRAMEBRIDGE_CACHE_MB", "FRAMEBRIDGE_PROPAGATE_THREADS")
ACTOR_CONCURRENCY = 4  # a chunk streaming, plus cancel and record calls beside it


@dataclass(frozen=True)
class Actor:
    """One pool slot's current actor."""

    slot: int
    generation: int
    handle: Any

    @property
    def name(self) -> str:
        return actor_name(os.getpid(), self.slot, self.generation)


def actor_name(server_pid: int, slot: int, generation: int = 0) -> str:
    return f"{server_pid}-{slot}" + (f"-r{generation}" if generation else "")


class RayPool:
    """Actors on a Ray cluster the server is connected to; see :func:`start_pool`."""

    def __init__(self, ray: Any, count: int, options: dict[str, Any]):
        self._ray = ray
        self._options = options
        self._remote = ray.remote(ChunkWorker)
        self._lock = threading.Lock()
        self.size = count
        self.actors = [self._spawn(slot, 0) for slot in range(count)]
        self._idle = list(self.actors)
        self.start_seconds = 0.0

    def _spawn(self, slot: int, generation: int) -> Actor:
        name = actor_name(os.getpid(), slot, generation)
        handle = self._remote.options(name=name, namespace=NAMESPACE, max_concurrency=ACTOR_CONCURRENCY,
                                      **self._options).remote()
        return Actor(slot, generation, handle)

    def wait_ready(self, timeout: float) -> float:
        """Block until every actor is built (its ops constructed); the seconds it took."""
        started = time.monotonic()
        try:
            self._ray.get([actor.handle.ready.remote() for actor in self.actors], timeout=timeout)
        except self._ray.exceptions.GetTimeoutError:
            raise ClusterUnavailable(
                f"the {self.size} Ray actors did not start within {timeout:.0f} s",
                fix="check `ray status` for free CPUs/GPUs, or pass a smaller --ray-actors") from None
        except self._ray.exceptions.RayError as error:
            raise ClusterUnavailable(f"a Ray actor failed to start: {_one_line(error)}",
                                     fix="check that every Ray node has framebridge installed (pip install 'framebridge[ray]')") from None
        self.start_seconds = time.monotonic() - started
        return self.start_seconds

    def acquire(self) -> Actor | None:
        with self._lock:
            return self._idle.pop(0) if self._idle else None

    def release(self, actor: Actor) -> None:
        with self._lock:
            if actor in self.actors and actor not in self._idle:
                self._idle.append(actor)

    def replace(self, actor: Actor) -> None:
        """Start a new actor in a dead one's slot; it takes work as soon as Ray has placed it."""
        with self._lock:
            if actor not in self.actors:
                return
            fresh = self._spawn(actor.slot, actor.generation + 1)
            self.actors[self.actors.index(actor)] = fresh
            self._idle = [idle for idle in self._idle if idle is not actor] + [fresh]
        try:
            self._ray.kill(actor.handle)
        except Exception as error:
            log.debug("the dead actor %s could not be killed: %s", actor.name, error)

    def put(self, buffers: dict[str, Any]) -> Any:
        return self._ray.put(buffers)

    def stream(self, actor: Actor, task: ChunkTask, job_buffers: Any, frames: list[Any]) -> Iterator[OutputFrame | FrameFailure]:
        ray = self._ray
        try:
            for ref in actor.handle.run_chunk.remote(task, job_buffers, *frames):
                yield decode_item(ray.get(ref))
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.ObjectLostError) as error:
            raise WorkerLost(_one_line(error)) from None
        except ray.exceptions.RayError as error:
            raise FrameBridgeError(f"the Ray pool failed a chunk: {_one_line(error)}") from None

    def cancel(self, actor: Actor, token: str) -> None:
        actor.handle.cancel.remote(token)

    def records(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Each current actor's record (chunks, frames, chunks stopped by a cancel)."""
        return self._ray.get([actor.handle.record.remote() for actor in self.actors], timeout=timeout)

    def close(self) -> None:
        for actor in self.actors:
            try:
                self._ray.kill(actor.handle)
            except Exception as error:
                log.debug("actor %s could not be killed: %s", actor.name, error)
        self._ray.shutdown()


def start_pool(address: str, actors: int | None = None, *, timeout: float = 300.0) -> RayPool:
    """Connect to the Ray cluster at ``address`` (``auto``: one on this machine only, on loopback) and start actors.

    ``actors`` defaults to one per GPU the cluster has, else one per CPU. Every
    failure is a one-line :class:`ClusterUnavailable`.
    """
    if actors is not None and actors < 1:
        raise ClusterUnavailable(f"--ray-actors must be at least 1, got {actors}")
    if address == "auto":  # a cluster Ray starts on this machine: every port on loopback, behind Ray's token
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable("serve --ray needs Ray, which is not installed",
                                 fix="pip install 'framebridge[ray]' (on every machine of the cluster)") from None
    if address != "auto":
        _check_reachable(address)
    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    try:
        ray.init(address=None if address == "auto" else address, namespace=NAMESPACE, log_to_driver=False,
                 runtime_env={"env_vars": env} if env else None)
    except Exception as error:
        raise ClusterUnavailable(f"cannot connect to the Ray cluster at {address}: {_one_line(error)}",
                                 fix="start one with `ray start --head`, or pass --ray auto for a local one") from None
    try:
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
        count = actors or gpus or cpus
        if count < 1:
            raise ClusterUnavailable(f"the Ray cluster at {address} has no CPU or GPU to run actors on",
                                     fix="add a node with `ray start --address ...`")
        pool = RayPool(ray, count, {"num_gpus": 1} if gpus else {"num_cpus": 1})
        pool.wait_ready(timeout)
        return pool
    except BaseException:
        ray.shutdown()
        raise


def _check_reachable(address: str) -> None:
    """A ``host:port`` address must answer before Ray is asked (Ray itself retries for minutes)."""
    if "://" in address:
        return
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit():
        raise ClusterUnavailable(f"--ray {address!r} is not a Ray address", fix="write it as HOST:PORT (e.g. 127.0.0.1:6379) or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except OSError as error:
        raise ClusterUnavailable(f"no Ray cluster answers at {address} ({error.strerror or error})",
                                 fix="start one there with `ray start --head --port PORT`, or pass --ray auto") from None


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(error).__name__
