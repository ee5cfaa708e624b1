"""The worker pool behind `serve --ray`: chunks, order, cross-fades, lost workers and cancel.

The executor's general path runs first on workers that are threads of this process
(no Ray, fast); then a real `framebridge serve --ray ADDRESS` joins a 2-CPU Ray
cluster this test session starts once, and must give the bytes a plain server gives.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from types import MappingProxyType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from framebridge.protocol.client import DoneEvent, ResultEvent
from framebridge.protocol.errors import FrameFailed, JobCancelled
from framebridge.server.chunks import ChunkRule, plan_chunks
from framebridge.server.ops.base import FrameFailure, JobContext, InputFrame, Op, OutputFrame, check_params
from framebridge.server.scale.executor import ChunkExecutor, WorkerLost
from framebridge.server.scale.worker import ChunkWorker, decode_item

pytestmark = pytest.mark.ray

# A single-machine Ray cluster announces 127.0.0.1 instead of the machine's network address with this set.
LOOPBACK_RAY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


class ChainOp(Op):
    """Each result mixes the frame's value with the previous result: a temporal chain, like restyle's."""

    name = "chain"

    def __init__(self, rule: ChunkRule):
        self.rule = rule

    def describe(self) -> dict[str, Any]:
        return {"summary": "a test chain"}

    def prepare(self, params, shot, frames, backend, job_buffers=MappingProxyType({})):
        check_params(params, {"delay": dict, "fail": list})
        return {"delay": {int(number): seconds for number, seconds in params.get("delay", {}).items()},
                "fail": set(params.get("fail", []))}

    def run(self, plan, frames, context):
        previous = None
        for frame in frames:
            time.sleep(plan["delay"].get(frame.number, 0.0))
            if frame.number in plan["fail"]:
                previous = None
                yield FrameFailure(frame.number, FrameFailed(f"frame {frame.number} failed on request"))
                continue
            value = frame.buffers["beauty"].astype(np.float32)
            previous = value if previous is None else 0.5 * previous + 0.5 * value
            yield OutputFrame(frame.number, {"beauty": previous, "id": np.full((2,), frame.number, np.uint16)}, {})

    def chunking(self, plan) -> ChunkRule:
        return self.rule


class LocalPool:
    """Pool workers as threads of this process; ``doom`` makes a worker die after a number of results."""

    def __init__(self, size: int, op: Op):
        self.size, self.op = size, op
        self.workers = [ChunkWorker(lambda: {op.name: op}) for _ in range(size)]
        self.idle = list(self.workers)
        self.lock = threading.Lock()
        self.doomed: dict[int, int] = {}  # worker id -> results it yields before it dies
        self.replaced = 0

    def acquire(self):
        with self.lock:
            return self.idle.pop(0) if self.idle else None

    def release(self, worker):
        with self.lock:
            if worker in self.workers and worker not in self.idle:
                self.idle.append(worker)

    def replace(self, worker):
        with self.lock:
            fresh = ChunkWorker(lambda: {self.op.name: self.op})
            self.workers[self.workers.index(worker)] = fresh
            self.idle.append(fresh)
            self.replaced += 1

    def put(self, buffers):
        return buffers

    def stream(self, worker, task, job_buffers, frames):
        left = self.doomed.pop(id(worker), None)
        for encoded in worker.run_chunk(task, job_buffers, *frames):
            if left == 0:
                raise WorkerLost("killed by the test")
            if left is not None:
                left -= 1
            yield decode_item(encoded)

    def cancel(self, worker, token):
        worker.cancel(token)


def fake_job(op: Op, frames: list[int], params: dict | None = None):
    params = params or {}
    return SimpleNamespace(id="job-1", op=op, plan=op.prepare(params, {}, frames, None), params=params,
                           requested_backend=None, shot={}, frames=frames, job_buffers=MappingProxyType({}),
                           cancel_requested=threading.Event())


def value(number: int) -> np.ndarray:
    return np.full((2, 2, 3), float(number), np.float32)


def inputs(frames, gaps=()):
    for number in frames:
        if number not in gaps:
            yield InputFrame(number, {"beauty": value(number)})


def run_job(pool, job, source):
    context = JobContext(job_id=job.id, frames=job.frames, shot={}, cancelled=job.cancel_requested.is_set)
    return list(ChunkExecutor(pool, poll_seconds=0.01).run(job, source, context))


def chain(numbers):
    """The op's own result for every frame of one chain over ``numbers``."""
    results, previous = {}, None
    for number in numbers:
        previous = value(number) if previous is None else 0.5 * previous + 0.5 * value(number)
        results[number] = previous
    return results


def test_results_come_in_submit_order_even_when_a_later_chunk_finishes_first():
    op = ChainOp(ChunkRule())
    frames = list(range(1, 13))
    job = fake_job(op, frames, {"delay": {"1": 0.2}})
    results = run_job(LocalPool(2, op), job, inputs(frames))
    assert [item.number for item in results] == frames
    first, second = plan_chunks(frames, 2)
    expected = {**chain(first.frames), **chain(second.frames)}
    for item in results:
        np.testing.assert_array_equal(item.buffers["beauty"], expected[item.number])


def test_warm_up_frames_are_run_not_returned_and_fade_frames_are_cross_faded():
    rule = ChunkRule(warmup=4, fade=2, tail=1)
    op = ChainOp(rule)
    frames = list(range(101, 125))
    results = run_job(LocalPool(2, op), fake_job(op, frames), inputs(frames))
    first, second = plan_chunks(frames, 2, rule)
    assert second.lead == (109, 110, 111, 112) and second.fade == (111, 112) and first.tail == (113,)
    assert [item.number for item in results] == frames
    own, warmed = chain(first.run), chain(second.run)
    by_number = {item.number: item for item in results}
    for number in first.frames:
        if number in second.fade:
            weight = (second.fade.index(number) + 1) / 3
            expected = own[number] * (1 - weight) + warmed[number] * weight
            np.testing.assert_allclose(by_number[number].buffers["beauty"], expected, rtol=1e-6)
            assert by_number[number].meta["chunk_fade"] == pytest.approx(weight, abs=1e-4)
        else:
            np.testing.assert_array_equal(by_number[number].buffers["beauty"], own[number])
        assert by_number[number].buffers["id"][0] == number  # integer buffers are never blended
    for number in second.frames:
        np.testing.assert_array_equal(by_number[number].buffers["beauty"], warmed[number])


def test_a_frame_one_chunk_failed_keeps_the_owning_chunks_outcome_and_gaps_are_skipped():
    rule = ChunkRule(warmup=3, fade=1)
    op = ChainOp(rule)
    frames = list(range(1, 17))
    first, second = plan_chunks(frames, 2, rule)
    job = fake_job(op, frames, {"fail": [3]})
    results = run_job(LocalPool(2, op), job, inputs(frames, gaps={14}))
    assert [item.number for item in results] == [number for number in frames if number != 14]
    assert isinstance(next(item for item in results if item.number == 3), FrameFailure)
    assert all(isinstance(item, OutputFrame) for item in results if item.number != 3)


def test_a_lost_worker_has_its_chunk_run_again_with_no_frame_lost_or_repeated():
    op = ChainOp(ChunkRule(warmup=2, fade=1))
    frames = list(range(1, 21))
    pool = LocalPool(2, op)
    pool.doomed[id(pool.workers[1])] = 3
    results = run_job(pool, fake_job(op, frames), inputs(frames))
    assert [item.number for item in results] == frames and pool.replaced == 1
    reference = run_job(LocalPool(2, op), fake_job(op, frames), inputs(frames))
    for got, expected in zip(results, reference):
        np.testing.assert_array_equal(got.buffers["beauty"], expected.buffers["beauty"])


def test_cancel_stops_every_worker_before_its_next_frame():
    op = ChainOp(ChunkRule())
    frames = list(range(1, 21))
    pool = LocalPool(2, op)
    job = fake_job(op, frames, {"delay": {str(number): 0.05 for number in frames}})
    context = JobContext(job_id=job.id, frames=frames, shot={}, cancelled=job.cancel_requested.is_set)
    seen = []
    with pytest.raises(JobCancelled):
        for item in ChunkExecutor(pool, poll_seconds=0.01).run(job, inputs(frames), context):
            seen.append(item.number)
            if len(seen) == 2:
                job.cancel_requested.set()
    records = [worker.record() for worker in pool.workers]
    assert all(len(record["stopped"]) == 1 for record in records)
    assert all(entry["started"] < entry["frames"] for record in records for entry in record["stopped"])


def test_a_chunk_starts_once_its_own_frames_are_in_before_the_rest_of_the_shot():
    op = ChainOp(ChunkRule())
    frames = list(range(1, 9))
    arrived_all = threading.Event()
    first_result = []

    def slow_source():
        for number in frames:
            if number == 5:  # the second chunk's frames come only after the first chunk has given a result
                deadline = time.monotonic() + 10
                while not first_result and time.monotonic() < deadline:
                    time.sleep(0.01)
            yield InputFrame(number, {"beauty": value(number)})
        arrived_all.set()

    job = fake_job(op, frames)
    context = JobContext(job_id=job.id, frames=frames, shot={}, cancelled=job.cancel_requested.is_set)
    for item in ChunkExecutor(LocalPool(2, op), poll_seconds=0.01).run(job, slow_source(), context):
        if not first_result:
            first_result.append(arrived_all.is_set())
    assert first_result == [False]


# Ray itself: a local cluster for the session, and `framebridge serve --ray ADDRESS` on it.

@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    saved = {name: os.environ.get(name) for name in LOOPBACK_RAY}
    os.environ.update(LOOPBACK_RAY)
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="framebridge-tests")
    yield ray, context.address_info["gcs_address"]
    ray.shutdown()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def ray_server(ray_cluster, tmp_path_factory):
    from framebridge.server.launch import spawn_server

    _, address = ray_cluster
    cache = tmp_path_factory.mktemp("ray-cache")
    with spawn_server(tmp_path_factory.mktemp("ray-server"), "--workers", "2", "--ray", address, "--ray-actors", "2",
                      env={**LOOPBACK_RAY, "FRAMEBRIDGE_CACHE_DIR": str(cache)}, timeout=300) as running:
        yield running


def actors(ray, server):
    from framebridge.server.scale.pool import NAMESPACE, actor_name

    found = []
    for slot in range(2):
        for generation in range(3, -1, -1):
            try:
                found.append(ray.get_actor(actor_name(server.process.pid, slot, generation), namespace=NAMESPACE))
                break
            except ValueError:
                continue
    return found


def beauty_source(shape=(36, 64, 4), seed=5):
    def source(number):
        rng = np.random.default_rng(seed * 1000 + number)
        return {"beauty": rng.random(shape, dtype=np.float32)}
    return source


def test_echo_through_the_ray_pool_gives_the_bytes_a_plain_server_gives(ray_server, server):
    frames = list(range(1001, 1041))
    source = beauty_source()
    with ray_server.client(timeout=120) as client:
        pooled = client.submit("echo", frames, source).wait(timeout=240)
    with server.client(timeout=60) as client:
        plain = client.submit("echo", frames, source).wait(timeout=120)
    assert pooled.state == plain.state == "completed"
    assert sorted(pooled.results) == frames
    for number in frames:
        assert pooled.results[number]["beauty"].tobytes() == plain.results[number]["beauty"].tobytes()


def test_cpu_restyle_without_temporal_gives_the_same_bytes_with_and_without_ray(ray_server, server):
    frames = list(range(1, 13))
    source = beauty_source((36, 64, 3), seed=9)
    params = {"prompt": "cartoon", "temporal": False, "cache": False, "seed": 3}
    with ray_server.client(timeout=120) as client:
        pooled = client.submit("restyle", frames, source, params=params, backend="cpu").wait(timeout=240)
    with server.client(timeout=60) as client:
        plain = client.submit("restyle", frames, source, params=params, backend="cpu").wait(timeout=240)
    assert pooled.state == plain.state == "completed"
    for number in frames:
        assert pooled.results[number]["beauty"].tobytes() == plain.results[number]["beauty"].tobytes()


def test_temporal_restyle_through_the_pool_equals_the_chunked_reference_of_its_warm_up_rule(ray_server):
    from framebridge.server.chunked import run_chunked
    from framebridge.server.ops.restyle import RestyleOp

    frames = list(range(1, 17))
    source = beauty_source((36, 64, 3), seed=4)
    params = {"prompt": "cartoon", "temporal": True, "cache": False, "seed": 3}
    with ray_server.client(timeout=120) as client:
        pooled = client.submit("restyle", frames, source, params=params, backend="cpu").wait(timeout=240)
    op = RestyleOp()
    plan = op.prepare(dict(params), {}, frames, "cpu")
    rule = op.chunking(plan)
    assert rule.warmup > 0 and len(plan_chunks(frames, 2, rule)) == 2
    inputs = [InputFrame(number, MappingProxyType(source(number))) for number in frames]
    reference = run_chunked(op, plan, inputs, 2)
    assert pooled.state == "completed"
    for number in frames:
        np.testing.assert_array_equal(pooled.results[number]["beauty"], reference[number].buffers["beauty"])


def test_killing_an_actor_mid_job_loses_and_repeats_no_frame(ray_cluster, ray_server):
    ray, _ = ray_cluster
    frames = list(range(1, 41))
    source = beauty_source((8, 8, 4))
    numbers, done = [], []
    with ray_server.client(timeout=120) as client:
        job = client.submit("echo", frames, source, params={"delay": 0.1})
        for event in job:
            if isinstance(event, ResultEvent):
                numbers.append(event.frame)
                if len(numbers) == 3:
                    ray.kill(actors(ray, ray_server)[1])
            elif isinstance(event, DoneEvent):
                done.append(event)
        outcome = job.wait(timeout=240)
    assert outcome.state == "completed"
    assert numbers == frames and done[0].frames == frames  # the server's own list of frames done: none twice
    for number in frames:
        assert outcome.results[number]["beauty"].tobytes() == source(number)["beauty"].tobytes()


def test_cancel_stops_both_actors_within_a_frame(ray_cluster, ray_server):
    ray, _ = ray_cluster
    frames = list(range(1, 41))
    with ray_server.client(timeout=120) as client:
        job = client.submit("echo", frames, beauty_source((8, 8, 4)), params={"delay": 0.2})
        results = 0
        for event in job:
            results += isinstance(event, ResultEvent)
            if results == 3:  # both chunks are running by now; each has 20 frames (4 s) to go
                job.cancel()
                break
        outcome = job.wait(timeout=120)
    assert outcome.state == "cancelled"
    deadline = time.monotonic() + 60
    while True:
        records = ray.get([actor.record.remote() for actor in actors(ray, ray_server)], timeout=60)
        stopped = [[entry for entry in record["stopped"] if entry["job"] == job.id] for record in records]
        if all(stopped) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert all(len(entries) == 1 for entries in stopped), records
    assert all(entry["started"] < entry["frames"] for entries in stopped for entry in entries)


def test_serve_with_a_ray_address_where_no_cluster_answers_says_so_in_one_line(tmp_path):
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = subprocess.run([sys.executable, "-m", "framebridge.server", "serve", "--address", "tcp://127.0.0.1:*",
                             "--connection-file", str(tmp_path / "c.json"), "--ray", f"127.0.0.1:{port}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "[cluster_unavailable]" in result.stderr and f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_server_without_ray_never_imports_it(tmp_path):
    code = f"""
import sys, threading
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("ray is blocked in this test")
sys.meta_path.insert(0, Blocked())
import numpy as np
from framebridge.protocol.client import Client
from framebridge.protocol.connection import load_or_create
from framebridge.server.cli import build_parser
from framebridge.server.server import Server
info = load_or_create({str(tmp_path / 'c.json')!r}, "tcp://127.0.0.1:*")
server = Server(info)
thread = threading.Thread(target=server.serve_forever, daemon=True)
thread.start()
with Client({str(tmp_path / 'c.json')!r}, address=server.address, timeout=30) as client:
    outcome = client.submit("echo", [1, 2], {{1: {{"x": np.zeros(3, np.float32)}}, 2: {{"x": np.ones(3, np.float32)}}}}).wait(timeout=30)
server.stop()
thread.join(10)
print(outcome.state, any(name == "ray" or name.startswith("ray.") for name in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["completed", "False"]


def test_without_ray_installed_serve_ray_names_the_extra(tmp_path):
    code = ("import sys\n"
            "class Blocked:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'ray': raise ImportError('blocked')\n"
            "sys.meta_path.insert(0, Blocked())\n"
            "from framebridge.server.cli import main\n"
            "sys.exit(main(['serve', '--address', 'tcp://127.0.0.1:*', '--connection-file', sys.argv[1], '--ray', 'auto']))\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c.json")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "[cluster_unavailable]" in result.stderr and "framebridge[ray]" in result.stderr


def test_serve_ray_auto_starts_a_cluster_that_listens_on_loopback_only_behind_a_token(tmp_path):
    code = ("import os, psutil\n"
            "from framebridge.server.scale.pool import start_pool\n"
            "pool = start_pool('auto', 1, timeout=180)\n"
            "ours = psutil.Process().children(recursive=True)\n"
            "print(os.environ['RAY_AUTH_MODE'])\n"
            "print(sorted({c.laddr.ip.replace('::ffff:', '') for p in ours for c in p.net_connections('tcp')"
            " if c.status == psutil.CONN_LISTEN}))\n"
            "pool.close()\n")
    env = {name: value for name, value in os.environ.items() if not name.startswith("RAY_")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    auth, addresses = result.stdout.splitlines()[-2:]
    assert auth == "token" and addresses == "['127.0.0.1']"
