"""Seams between chunks of a temporal `restyle`, and what the warm-up that hides them costs.

The demo scene (blender_addon/demo_scene.py ``--crossing``: the camera pans, objects
cross) is rendered with Cycles into a temp folder and restyled in-process on the CPU
default backend, cache off, split into ``--chunks`` chunks that each run as their own
op.run (framebridge.server.chunked, the reference the Ray pool and farm chunks follow),
for several warm-up lengths, without and with a cross-fade over half of them.

Seam ratio (framebridge.server.seams): the warp error into each chunk's first frame
(result n-1 warped along the render's motion into frame n against result n, on the
pixels the motion trusts, display values) over the error into every other frame; the
single chain measured at the same frames is the floor, 1.25 the goal. Extra frames:
what the warm-up costs over one chain, ``(chunks - 1) * warmup``.

    python benchmarks/seams.py [--frames 48 --chunks 6 --width 128 --height 80 --samples 8 --looks auto,sketch,paint]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from framebridge.protocol import passes
from framebridge.protocol.exr import read_frame
from framebridge.server.chunked import run_chunked
from framebridge.server.chunks import ChunkRule, plan_chunks
from framebridge.server.ops.base import InputFrame
from framebridge.server.ops.restyle import TEMPORAL_CHUNKS, RestyleOp
from framebridge.server.seams import seam_ratio

SCENE = Path(__file__).resolve().parents[1] / "blender_addon" / "demo_scene.py"
WARMUPS = (0, 1, 2, 3, 4, 6, 8)


def render(folder: Path, frames: int, width: int, height: int, samples: int) -> None:
    subprocess.run([sys.executable, str(SCENE), "--out", str(folder), "--frames", str(frames), "--width", str(width),
                    "--height", str(height), "--samples", str(samples), "--no-cryptomatte", "--crossing", "1.5"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--chunks", type=int, default=6)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=80)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--looks", default="auto,sketch,paint", help="CPU looks; paint runs at strength 1, its slowest to settle")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.monotonic()
        render(Path(folder), args.frames, args.width, args.height, args.samples)
        numbers = list(range(1, args.frames + 1))
        shot = {number: read_frame(Path(folder) / f"frame_{number:04d}.exr") for number in numbers}
    print(f"{args.frames} frames {args.width}x{args.height} rendered in {time.monotonic() - started:.1f} s; "
          f"{args.chunks} chunks; op rule {TEMPORAL_CHUNKS}")
    frames = [InputFrame(number, shot[number]) for number in numbers]
    with tempfile.TemporaryDirectory() as cache:
        op = RestyleOp(cache_dir=Path(cache))
        for look in args.looks.split(","):
            params = {"cache": False, "look": look, **({"strength": 1.0} if look == "paint" else {})}
            plan = op.prepare(params, {}, numbers, "cpu")
            single = {number: result.buffers[passes.BEAUTY] for number, result in run_chunked(op, plan, frames, 1, ChunkRule()).items()}
            print(f"\nlook {look}: seam ratio (goal <= 1.25; the single chain at the same frames in brackets)")
            print(f"{'warm-up':>8} {'no fade':>9} {'fade w/2':>9} {'extra frames':>13}")
            for warmup in WARMUPS:
                ratios = []
                for fade in (0, warmup // 2):
                    rule = ChunkRule(warmup=warmup, fade=fade)
                    chunks = plan_chunks(numbers, args.chunks, rule)
                    starts = {chunk.frames[0] for chunk in chunks[1:]}
                    results = run_chunked(op, plan, frames, args.chunks, rule)
                    seams = seam_ratio({number: result.buffers[passes.BEAUTY] for number, result in results.items()}, shot, starts)
                    ratios.append(f"{seams.ratio:.3f}")
                floor = seam_ratio(single, shot, starts).ratio
                extra = sum(len(chunk.run) for chunk in chunks) - len(numbers)
                print(f"{warmup:>8} {ratios[0]:>9} {ratios[1]:>9} {extra:>13}   ({floor:.3f})")


if __name__ == "__main__":
    main()
