"""Per-client keys: what CURVE encryption and per-client signing cost on a 1080p echo job.

Run: python benchmarks/clients.py [--frames 30] [--rounds 3]

Three servers run at once, each measured in turn for ``--rounds`` rounds so load from
other processes falls on all of them; each ratio is the median of the per-round ratios
against the first, measured in the same run:
- loopback: `framebridge serve` on 127.0.0.1 without CURVE, the server's own file (today's local use);
- curve owner: bound to 0.0.0.0 with CURVE, the server's own file (admitted by ZAP as the owner);
- curve client: the same server, an exported client file (its own CURVE keys; every message
  verified and re-signed with that client's key).
A round is one streamed job of ``--frames`` 1920x1080 RGBA float16 frames (wall time / frames),
then ``--pings`` pings (median round trip). Clients connect over 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from framebridge.protocol import Client
from framebridge.server.cli import main as framebridge
from framebridge.server.launch import spawn_server

WIDTH, HEIGHT = 1920, 1080


def measure(client: Client, frames: int, pings: int) -> tuple[float, float]:
    """Seconds per frame of a streamed echo job, and the median ping round trip."""
    image = np.random.default_rng(0).random((HEIGHT, WIDTH, 4), dtype=np.float32).astype(np.float16)
    started = time.perf_counter()
    outcome = client.submit("echo", list(range(1, frames + 1)), lambda n: {"beauty": image}, keep_results=False).wait(timeout=600)
    per_frame = (time.perf_counter() - started) / frames
    assert outcome.state == "completed", outcome
    return per_frame, statistics.median(client.ping()["round_trip"] for _ in range(pings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pings", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        with spawn_server(folder / "loopback") as loopback, \
                spawn_server(folder / "studio", "--address", "tcp://0.0.0.0:*", "--curve") as studio:
            client_file = folder / "bench-client.json"
            framebridge(["connection", "export", "bench-client", "--host", "127.0.0.1", "--out", str(client_file),
                         "--connection-file", str(studio.connection_file)])
            clients = {"loopback": loopback.client(timeout=60), "curve owner": studio.client(timeout=60),
                       "curve client": Client(client_file, timeout=60)}
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
            for client in clients.values():
                measure(client, 2, 5)
            for _ in range(args.rounds):
                for name, client in clients.items():
                    results[name].append(measure(client, args.frames, args.pings))
            for client in clients.values():
                client.close()
    base = results["loopback"]
    print(f"{args.frames} frames 1920x1080 RGBA float16 per job, {args.rounds} rounds, {args.pings} pings per round")
    for name, rounds in results.items():
        frame_ratio = statistics.median(r[0] / b[0] for r, b in zip(rounds, base))
        ping_ratio = statistics.median(r[1] / b[1] for r, b in zip(rounds, base))
        print(f"{name:<13} {statistics.median(r[0] for r in rounds) * 1000:7.1f} ms/frame ({frame_ratio:.2f}x loopback)  "
              f"ping {statistics.median(r[1] for r in rounds) * 1000:6.2f} ms ({ping_ratio:.2f}x)")
    per_client = statistics.median(c[0] / o[0] for c, o in zip(results["curve client"], results["curve owner"]))
    print(f"per-client keys vs the owner's own file on the same CURVE server: {per_client:.2f}x per frame")


if __name__ == "__main__":
    main()
