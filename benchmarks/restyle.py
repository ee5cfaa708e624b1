"""`restyle` on the CPU default backend: 1080p speed, cache re-submit time, and which frames an edit recomputes.

The demo scene (blender_addon/demo_scene.py) is rendered at 1920x1080 with Cycles
into a temp folder and driven through the op in-process, as a job runs it:

(a) frames per second per look with cache off, temporal on, against temporal off
    measured in the same run (goal: >= 2 fps at 1080p on the 2-core machine);
(b) the same shot submitted twice with the cache on (a fresh temp cache folder):
    the cache-hit re-submit time as a fraction of the first run (goal <= 5%);
(c) frame k's beauty edited in a few pixels and the shot re-submitted: which
    frames are cache hits and misses, temporal on and off, against the op's rule
    (off: only frame k; on: frame k and every later frame whose warped-in
    previous result changed; never a frame before k);
(d) `framebridge run restyle` from the command line on ``--cli-frames`` rendered
    frames, run twice in fresh processes: the unchanged re-run's wall time as a
    fraction of the first run's (goal <= 10%), then again after editing one frame.

    python benchmarks/restyle.py [--frames 4 --cli-frames 12 --samples 2 --width 1920 --height 1080]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from framebridge.protocol import passes
from framebridge.protocol.exr import read_frame, write_exr
from framebridge.server.ops.base import InputFrame, JobContext
from framebridge.server.ops.restyle import RestyleOp

LOOKS = ("toon", "paint", "sketch")


def render_shot(folder: Path, frames: int, width: int, height: int, samples: int) -> list[dict[str, np.ndarray]]:
    """The demo scene rendered with its own CLI, read back as canonical buffers."""
    subprocess.run([sys.executable, "-m", "framebridge.blender_addon.demo_scene", "--out", str(folder), "--frames", str(frames),
                    "--width", str(width), "--height", str(height), "--samples", str(samples), "--no-cryptomatte"],
                   check=True, capture_output=True)
    return [read_frame(folder / f"frame_{number:04d}.exr") for number in range(1, frames + 1)]


def run(op: RestyleOp, shot: list[dict[str, np.ndarray]], params: dict) -> tuple[float, list]:
    """(seconds, results) for the whole shot through prepare and run."""
    numbers = list(range(1, len(shot) + 1))
    start = time.perf_counter()
    plan = op.prepare(params, {}, numbers, "cpu")
    context = JobContext(job_id="bench", frames=numbers, shot={}, cancelled=lambda: False)
    results = list(op.run(plan, iter(InputFrame(n, buffers) for n, buffers in zip(numbers, shot)), context))
    seconds = time.perf_counter() - start
    failed = [result for result in results if not hasattr(result, "buffers")]
    if failed:
        raise SystemExit(f"restyle failed: {failed}")
    return seconds, results


def cache_states(results: list) -> str:
    return " ".join(f"{result.number}:{result.meta['cache']}" for result in results)


def expected_misses(frames: int, edited: int, temporal: bool, results_changed: list[int]) -> list[int]:
    """Frames the op's cache rule says are recomputed after editing ``edited``."""
    if not temporal:
        return [edited]
    misses = [edited]
    for number in range(edited + 1, frames + 1):
        if number - 1 not in results_changed:
            break
        misses.append(number)
    return misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--edit", type=int, default=2, help="the frame edited in (c) and (d)")
    parser.add_argument("--cli-frames", type=int, default=12, help="frames of the command-line re-run in (d)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="framebridge-restyle-") as folder:
        start = time.perf_counter()
        rendered = max(args.frames, args.cli_frames)
        shot = render_shot(Path(folder) / "render", rendered, args.width, args.height, args.samples)[:args.frames]
        print(f"rendered {rendered} frames at {args.width}x{args.height}, {args.samples} samples in {time.perf_counter() - start:.1f} s")

        print(f"\n(a) frames/second, cache off ({args.frames} frames per run; goal >= 2 fps with temporal on)")
        print(f"{'look':8} {'temporal on':>12} {'off':>8} {'on/off':>7}")
        op = RestyleOp(cache_dir=Path(folder) / "cache")
        run(op, shot[:1], {"cache": False})
        for look in LOOKS:
            on, _ = run(op, shot, {"look": look, "cache": False})
            off, _ = run(op, shot, {"look": look, "cache": False, "temporal": False})
            fps_on, fps_off = args.frames / on, args.frames / off
            print(f"{look:8} {fps_on:12.2f} {fps_off:8.2f} {fps_on / fps_off:7.2f}  {'met' if fps_on >= 2 else 'NOT met'}")

        print("\n(b) cache re-submit, temporal on (goal: second run <= 5% of the first)")
        params = {"look": "toon"}
        first, results = run(op, shot, params)
        second, again = run(op, shot, params)
        print(f"first {first:.3f} s ({cache_states(results)}), re-submit {second:.3f} s ({cache_states(again)}), "
              f"fraction {second / first:.1%}  {'met' if second <= 0.05 * first else 'NOT met'}")

        print(f"\n(c) frame {args.edit} of {args.frames} edited (a 4x4 patch of its beauty), re-submitted")
        edited = [dict(frame) for frame in shot]
        beauty = edited[args.edit - 1][passes.BEAUTY].copy()
        beauty[100:104, 100:104, :3] += 0.5
        edited[args.edit - 1][passes.BEAUTY] = beauty
        for temporal in (True, False):
            params = {"look": "toon", "temporal": temporal}
            _, before = run(op, shot, params)
            _, after = run(op, edited, params)
            changed = [a.number for a, b in zip(after, before)
                       if not np.array_equal(a.buffers[passes.BEAUTY], b.buffers[passes.BEAUTY])]
            misses = [result.number for result in after if result.meta["cache"] == "miss"]
            expected = expected_misses(args.frames, args.edit, temporal, changed)
            print(f"temporal {'on ' if temporal else 'off'}: {cache_states(after)}; results changed {changed}; "
                  f"rule expects misses {expected}: {'matches' if misses == expected else 'DOES NOT match'}")

        command_line_reruns(Path(folder), args.cli_frames, args.edit)


def command_line_reruns(folder: Path, frames: int, edit: int) -> None:
    """(d): the CLI's first run, unchanged re-run and one-frame-edit re-run, each a fresh process."""
    print(f"\n(d) `framebridge run restyle` on {frames} rendered frames, fresh processes (goal: unchanged re-run <= 10%)")
    command = [sys.executable, "-m", "framebridge.server", "run", "restyle", "--input", str(folder / "render/frame_####.exr"),
               "--output", str(folder / "cli/frame_####.exr"), "--frames", f"1-{frames}", "--prompt", "toon", "--seed", "3"]
    environment = {**os.environ, "FRAMEBRIDGE_CACHE_DIR": str(folder / "cli-cache")}

    def timed() -> tuple[float, str]:
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=environment)
        if result.returncode != 0:
            raise SystemExit(f"framebridge run failed: {result.stderr[-2000:]}")
        return time.perf_counter() - start, result.stdout.strip()

    first, first_line = timed()
    again, again_line = timed()
    print(f"first run {first:.2f} s ({first_line})")
    print(f"unchanged re-run {again:.2f} s ({again_line}), fraction {again / first:.1%}  "
          f"{'met' if again <= 0.10 * first else 'NOT met'}")
    path = folder / f"render/frame_{edit:04d}.exr"
    frame = read_frame(path)
    frame[passes.BEAUTY][100:104, 100:104, :3] += 0.5
    write_exr(path, frame)
    edited, edited_line = timed()
    print(f"frame {edit} edited, temporal on: re-run {edited:.2f} s ({edited_line}), fraction {edited / first:.1%} "
          "(frames before it are served by the cache and not rewritten)")


if __name__ == "__main__":
    main()
