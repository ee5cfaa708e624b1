"""Transport: FrameBridge echo vs a bare pyzmq pair vs the codec work of an HTTP/PNG bridge.

Run: python benchmarks/transport.py [--frames 30] [--rounds 3] [--memory-frames 100 1000]

Every baseline is measured in the same run on the same machine, and the bare and server
measurements alternate for ``--rounds`` rounds so load from other processes falls on both;
each ratio is the median of the per-round ratios:
- server: one 1920x1080 RGBA frame per job through `framebridge serve` (echo), submit to done; on
  this loopback link buffers travel without digests (protocol 1.1; protocol/README.md, Digests);
  lockstep: one 60-frame job with one frame in flight (the next frame is sent when the
  previous result arrives), the like-for-like match for bare's one frame in flight;
  streamed: one 60-frame job under the credit window (per-frame time = wall time / frames);
- bare: the same bytes through a DEALER/ROUTER echo in another process, one frame in flight;
- png: what an HTTP/PNG bridge pays in codec work per round trip for the same image in 8-bit RGB
  (client encode, server decode + encode, client decode; OpenCV; HTTP itself not counted);
- digests: what the four XXH3-128 passes of a round trip with digests (1.0 peers, links that are
  not loopback or CURVE) cost on the same frame, measured directly;
- memory: the server's peak RSS (VmHWM) for a 100-frame and a 1000-frame 1080p float16 job.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import zmq

from framebridge.protocol import buffers
from framebridge.protocol.buffers import digest
from framebridge.server.launch import spawn_server

WIDTH, HEIGHT = 1920, 1080

BARE_ECHO = textwrap.dedent("""
    import sys, zmq
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    print(port, flush=True)
    while True:
        frames = router.recv_multipart(copy=False)
        if len(frames) == 2 and frames[1].bytes == b"stop":
            break
        router.send_multipart(frames, copy=False)
""")


def frame(dtype: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((HEIGHT, WIDTH, 4), dtype=np.float32).astype(dtype)


def bare_round_trips(array: np.ndarray, count: int) -> list[float]:
    process = subprocess.Popen([sys.executable, "-c", BARE_ECHO], stdout=subprocess.PIPE, text=True)
    port = int(process.stdout.readline())
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    times = []
    for _ in range(count + 2):
        start = time.perf_counter()
        dealer.send_multipart([b"header", array], copy=False)
        reply = dealer.recv_multipart(copy=False)
        np.frombuffer(reply[1].buffer, dtype=array.dtype)
        times.append(time.perf_counter() - start)
    dealer.send_multipart([b"stop"])
    process.wait(timeout=10)
    dealer.close(linger=0)
    context.term()
    return times[2:]


def server_round_trips(client, array: np.ndarray, count: int) -> list[float]:
    times = []
    for _ in range(count + 2):
        start = time.perf_counter()
        outcome = client.submit("echo", [1], {1: {"beauty": array}}, keep_results=True).wait()
        assert outcome.results[1]["beauty"].shape == array.shape
        times.append(time.perf_counter() - start)
    return times[2:]


def server_stream(client, array: np.ndarray, count: int, in_flight: int | None = None) -> float:
    start = time.perf_counter()
    job = client.submit("echo", list(range(count)), lambda number: {"beauty": array}, keep_results=False,
                        in_flight=in_flight)
    results = sum(1 for event in job if type(event).__name__ == "ResultEvent")
    assert results == count
    return (time.perf_counter() - start) / count


def digest_passes(array: np.ndarray, count: int) -> list[float]:
    """Seconds for the four XXH3-128 passes a round trip with digests makes (describe and verify, both ways)."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        for _ in range(4):
            digest(array)
        times.append(time.perf_counter() - start)
    return times


def client_hashes(client, array: np.ndarray) -> int:
    """How many buffer digests the client computed (sending and verifying) for one echo job."""
    calls = []
    original = buffers.digest
    buffers.digest = lambda data: calls.append(1) or original(data)
    try:
        client.submit("echo", [1], {1: {"beauty": array}}, keep_results=True).wait()
    finally:
        buffers.digest = original
    return len(calls)


def png_codec_round_trips(count: int) -> list[float]:
    import cv2

    rgb = (np.random.default_rng(0).random((HEIGHT, WIDTH, 3)) * 255).astype(np.uint8)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        upload = cv2.imencode(".png", rgb)[1]
        on_server = cv2.imdecode(upload, cv2.IMREAD_UNCHANGED)
        download = cv2.imencode(".png", on_server)[1]
        cv2.imdecode(download, cv2.IMREAD_UNCHANGED)
        times.append(time.perf_counter() - start)
    return times


def peak_server_memory(frames: int) -> int:
    with tempfile.TemporaryDirectory() as directory:
        server = spawn_server(Path(directory))
        try:
            array = frame("float16")
            with server.client() as client:
                job = client.submit("echo", list(range(frames)), lambda number: {"beauty": array}, keep_results=False)
                assert sum(1 for event in job if type(event).__name__ == "ResultEvent") == frames
            status = Path(f"/proc/{server.process.pid}/status").read_text()
            return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) * 1024
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="alternating bare/server measurement rounds")
    parser.add_argument("--memory-frames", type=int, nargs=2, default=[100, 1000])
    args = parser.parse_args()

    png = statistics.median(png_codec_round_trips(args.frames))
    print(f"PNG 8-bit RGB codec work per round trip: {png * 1000:.1f} ms (24 bits/pixel)")
    with tempfile.TemporaryDirectory() as directory:
        server = spawn_server(Path(directory))
        try:
            with server.client() as client:
                for dtype in ("float16", "float32"):
                    array = frame(dtype)
                    rounds = []
                    for _ in range(args.rounds):
                        bare = statistics.median(bare_round_trips(array, args.frames))
                        served = statistics.median(server_round_trips(client, array, args.frames))
                        lockstep = server_stream(client, array, 60, in_flight=1)
                        streamed = server_stream(client, array, 60)
                        rounds.append((bare, served, lockstep, streamed, served / bare, lockstep / bare, streamed / bare))
                    bare, served, lockstep, streamed, served_ratio, lockstep_ratio, streamed_ratio = (
                        statistics.median(column) for column in zip(*rounds))
                    bits = array.dtype.itemsize * 8 * 4
                    print(f"{dtype} RGBA 1920x1080 ({array.nbytes / 1e6:.1f} MB, {bits} bits/pixel): "
                          f"server {served * 1000:.1f} ms/frame (one per job), lockstep {lockstep * 1000:.1f} ms/frame "
                          f"(one job, one in flight), streamed {streamed * 1000:.1f} ms/frame, "
                          f"bare pyzmq {bare * 1000:.1f} ms (medians of {args.rounds} rounds)")
                    hashing = statistics.median(digest_passes(array, args.frames))
                    print(f"  server / bare pyzmq: {served_ratio:.2f}x (goal <= 1.2x; rounds: "
                          f"{', '.join(f'{row[4]:.2f}' for row in rounds)}); lockstep / bare: {lockstep_ratio:.2f}x; "
                          f"streamed / bare: {streamed_ratio:.2f}x; "
                          f"PNG codec / server: {png / served:.1f}x (goal >= 4x for float16) carrying {bits / 24:.1f}x the bits")
                    print(f"  four digest passes (a round trip with digests) would add {hashing * 1000:.1f} ms "
                          f"= {hashing / bare:.2f}x bare; the client hashed {client_hashes(client, array)} buffers "
                          "for one echo job here")
        finally:
            server.stop()
    small, large = (peak_server_memory(count) for count in args.memory_frames)
    print(f"server peak RSS, 1080p float16: {args.memory_frames[0]} frames {small / 2**20:.0f} MiB, "
          f"{args.memory_frames[1]} frames {large / 2**20:.0f} MiB, ratio {large / small:.3f} (goal within 10%)")


if __name__ == "__main__":
    main()
