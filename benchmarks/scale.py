"""Throughput of `framebridge serve --ray` with 1 and 2 actors against a plain server, on this machine.

A local Ray cluster of ``--cpus`` CPUs is started here (loopback only); for each
setting a real server process is started (plain; ``--ray ADDRESS --ray-actors 1``;
``--ray-actors 2``) and the same jobs go through it from a client over tcp
loopback: ``restyle`` on the CPU backend with ``temporal`` off and the cache off,
``extract`` (depth from the pass, canny and lineart from the beauty) and ``echo``
(transport alone), each on ``--frames`` synthetic frames at ``--width`` x ``--height``.
Each job runs twice per server; the first run includes what a fresh actor does
once (importing and building its ops, loading models), the second is the steady
rate. Printed per op: frames per second for each setting, the efficiency of two
actors (fps2 / (2 * fps1)), the cost of the pool with one actor against the plain
server (fps1 / fps0), and the actors' start time from the server's own log.
Then the seam ratio of a temporal ``restyle`` (CPU default) through the two-actor
pool: a ``--seam-frames`` Blender pan (benchmarks/seams.py's render) split in two
chunks by the op's warm-up rule, the warp error into the second chunk's first frame
over the error within chunks (framebridge.server.seams), beside the plain server's
one chain at the same frame.

    python benchmarks/scale.py [--frames 24 --width 640 --height 360 --cpus 2 --seam-frames 24]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from framebridge.protocol import passes
from framebridge.protocol.exr import read_frame
from framebridge.server.chunks import plan_chunks
from framebridge.server.launch import ServerProcess, spawn_server
from framebridge.server.ops.restyle import TEMPORAL_CHUNKS
from framebridge.server.seams import seam_ratio
from seams import render  # benchmarks/seams.py: the panning Blender shot

LOOPBACK_RAY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # a one-machine cluster announces 127.0.0.1
JOBS = {
    "restyle": {"params": {"prompt": "cartoon, bold ink lines", "temporal": False, "cache": False, "seed": 7},
                "backend": "cpu"},
    "extract": {"params": {"conditions": ["depth", "canny", "lineart"], "depth_range": [1.0, 10.0]}, "backend": None},
    "echo": {"params": {}, "backend": None},
}


def frame_source(width: int, height: int):
    """Smooth shapes that move from frame to frame, with a depth pass."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)

    def source(number: int) -> dict[str, np.ndarray]:
        cx, cy = width * (0.3 + 0.02 * number), height * 0.5
        disc = ((x - cx) ** 2 + (y - cy) ** 2 < (height * 0.25) ** 2).astype(np.float32)
        beauty = np.stack([0.2 + 0.6 * disc, 0.3 + 0.4 * x / width, 0.5 + 0.3 * np.sin(y / 17.0 + number)], axis=-1)
        depth = np.where(disc > 0, 3.0, 8.0).astype(np.float32)
        return {"beauty": beauty.astype(np.float32), "depth": depth}
    return source


def run_job(server: ServerProcess, op: str, frames: list[int], source) -> float:
    """Seconds for one job, submit to done."""
    started = time.perf_counter()
    with server.client(timeout=600) as client:
        outcome = client.submit(op, frames, source, params=JOBS[op]["params"], backend=JOBS[op]["backend"]).wait(timeout=1800)
    if outcome.state != "completed":
        raise SystemExit(f"{op} ended {outcome.state}: {outcome.error or outcome.failed}")
    return time.perf_counter() - started


def temporal_results(server: ServerProcess, shot: dict[int, dict[str, np.ndarray]]) -> dict[int, np.ndarray]:
    """A temporal CPU restyle of the rendered shot (passes included), cache off: each frame's beauty."""
    with server.client(timeout=600) as client:
        outcome = client.submit("restyle", sorted(shot), lambda number: shot[number],
                                params={"temporal": True, "cache": False, "seed": 7}, backend="cpu").wait(timeout=1800)
    if outcome.state != "completed":
        raise SystemExit(f"temporal restyle ended {outcome.state}: {outcome.error or outcome.failed}")
    return {number: buffers[passes.BEAUTY] for number, buffers in outcome.results.items()}


def measure(server: ServerProcess, frames: list[int], source) -> dict[str, tuple[float, float]]:
    """Per op: (first run fps, steady fps)."""
    rates = {}
    for op in JOBS:
        first = run_job(server, op, frames, source)
        steady = run_job(server, op, frames, source)
        rates[op] = (len(frames) / first, len(frames) / steady)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--seam-frames", type=int, default=24, help="frames of the rendered pan for the seam ratio")
    args = parser.parse_args()

    import ray

    os.environ.update(LOOPBACK_RAY)
    started = time.perf_counter()
    context = ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, namespace="framebridge-bench")
    cluster_seconds = time.perf_counter() - started
    address = context.address_info["gcs_address"]
    frames = list(range(1, args.frames + 1))
    source = frame_source(args.width, args.height)
    results: dict[str, dict[str, tuple[float, float]]] = {}
    actor_start: dict[str, float] = {}
    temporal: dict[str, dict[int, np.ndarray]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="framebridge-scale-") as folder:
            render(Path(folder) / "pan", args.seam_frames, 128, 80, 8)
            pan = {number: read_frame(Path(folder) / "pan" / f"frame_{number:04d}.exr")
                   for number in range(1, args.seam_frames + 1)}
            settings = {"plain": (), "1 actor": ("--ray", address, "--ray-actors", "1"),
                        "2 actors": ("--ray", address, "--ray-actors", "2")}
            for name, extra in settings.items():
                directory = Path(folder) / name.replace(" ", "-")
                env = {**LOOPBACK_RAY, "FRAMEBRIDGE_CACHE_DIR": str(directory / "cache")}
                with spawn_server(directory, *extra, env=env, timeout=600) as server:
                    ready = re.search(r"actor\(s\) ready in ([0-9.]+) s", server.log_file.read_text())
                    if ready:
                        actor_start[name] = float(ready.group(1))
                    results[name] = measure(server, frames, source)
                    if name != "1 actor":
                        temporal[name] = temporal_results(server, pan)
    finally:
        ray.shutdown()

    print(f"{args.frames} frames at {args.width}x{args.height}, {os.cpu_count()} cores; "
          f"local Ray cluster of {args.cpus} CPUs started in {cluster_seconds:.1f} s")
    for name, seconds in actor_start.items():
        print(f"  actors ready ({name}): {seconds:.1f} s after the server connected")
    print(f"{'op':<8} {'plain fps':>10} {'1 actor':>9} {'2 actors':>9} {'efficiency':>11} {'1 actor/plain':>14} "
          f"{'first-run fps (1, 2 actors)':>28}")
    for op in JOBS:
        fps0, fps1, fps2 = (results[name][op][1] for name in ("plain", "1 actor", "2 actors"))
        first1, first2 = results["1 actor"][op][0], results["2 actors"][op][0]
        print(f"{op:<8} {fps0:>10.2f} {fps1:>9.2f} {fps2:>9.2f} {fps2 / (2 * fps1):>11.2f} {fps1 / fps0:>14.2f} "
              f"{first1:>13.2f}, {first2:.2f}")
    starts = {chunk.frames[0] for chunk in plan_chunks(sorted(pan), 2, TEMPORAL_CHUNKS)[1:]}
    pooled, chain = (seam_ratio(temporal[name], pan, starts).ratio for name in ("2 actors", "plain"))
    print(f"seam ratio, temporal restyle of a {args.seam_frames}-frame pan through 2 actors ({TEMPORAL_CHUNKS}; "
          f"chunk starts {sorted(starts)}): {pooled:.3f} (goal <= 1.25; one chain at the same frames {chain:.3f})")


if __name__ == "__main__":
    sys.exit(main())
