"""`propagate` on a Blender shot where objects cross and leave the frame while the camera pans.

The demo scene with crossing motion (blender_addon/demo_scene.py ``--crossing``,
flat shading) is rendered with Cycles; keyframes on the first and last frame are a
deterministic per-pixel style of the render, so the same style applied to every
frame is the reference. Printed, each against a baseline measured in this run:

- quality: PSNR (display values) of the propagated frames against the every-frame
  style, on the pixels a keyframe saw and on all pixels; the same for propagation
  along OpenCV DIS optical flow with the render's passes withheld (the EbSynth-style
  baseline). Goal: better than the baseline.
- flicker: mean |frame n - frame n-1 warped along the render's motion| over
  non-occluded pixels, for propagate (keyframes restyled by the CPU default ``toon``
  look) against `restyle` of every frame with temporal on. Goal: lower.
- speed: frames per second at 1920x1080 (the render's buffers scaled up, motion
  scaled with them; malloc tuned as the server tunes it,
  :mod:`framebridge.server.memory`), one keyframe span of the shot, twice, each
  against a reference measured the same way in the same run: the bare minimum of
  any motion-vector propagation, each frame the previous result warped along
  ``motion_backward`` by one full-size bilinear remap (no occlusion test, no second
  keyframe, no fill). First in wall time on every core the process may use
  (propagate's default thread count, OpenCV's default threads; on a shared machine
  other jobs slow it), with the CPU time of the calling thread (the part more
  threads do not shorten), and again with the result cache on (the server's
  default: inputs digested, results written to a fresh cache folder); then the
  whole shot the same way, with keyframes on its first frame, the span's last and
  its own last, so spans overlap as in a real shot; then in CPU time on one core
  (the process pinned to one core, one thread, OpenCV on one thread, after an
  untimed run of the same span so memory is reused as in a serving process; user
  and system time shown apart). Then where the one-core time goes, per stage in
  ms a frame (cProfile on CPU time), and PSNR at 1080p against the every-frame
  style scaled up. Goal: at least 8 fps on the whole CPU (the wall-time rows; the
  one-core figure is for reference).

A contact sheet (keyframes, propagated frames, confidence) goes to ``--sheet``.

    python benchmarks/propagate.py [--frames 12 --width 320 --height 180 --samples 16]
"""

from __future__ import annotations

import os

# One core: thread pools must not spin beside the pinned process, so BLAS gets one thread (set before numpy loads).
for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")

import argparse
import cProfile
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from framebridge.protocol import passes
from framebridge.protocol.exr import read_frame
from framebridge.server.colour import display_to_linear, linear_to_display
from framebridge.server.ops.base import InputFrame, JobContext
from framebridge.server.ops import propagate as propagate_module
from framebridge.server.ops.propagate import PropagateOp, default_threads
from framebridge.server.ops.restyle import RestyleOp
from framebridge.server.memory import keep_frame_memory
from framebridge.server.propagate.assemble import assemble
from framebridge.server.propagate.chain import step_chain
from framebridge.server.propagate.shot import read_shot_frame
from framebridge.server.propagate.synthesis import Holes, StyleModel
from framebridge.server.restyle.temporal import consistency_mask, warp

SCENE = Path(__file__).resolve().parents[1] / "blender_addon" / "demo_scene.py"
GUIDES = (passes.MOTION_BACKWARD, passes.MOTION_FORWARD, passes.DEPTH, passes.OBJECT_INDEX)


def render(folder: Path, frames: int, width: int, height: int, samples: int) -> dict[int, dict[str, np.ndarray]]:
    subprocess.run([sys.executable, str(SCENE), "--out", str(folder), "--frames", str(frames), "--width", str(width),
                    "--height", str(height), "--samples", str(samples), "--no-cryptomatte", "--crossing", "1.0"],
                   check=True, capture_output=True)
    return {number: read_frame(folder / f"frame_{number:04d}.exr") for number in range(1, frames + 1)}


def style(beauty: np.ndarray) -> np.ndarray:
    display = linear_to_display(np.clip(beauty[..., :3], 0.0, 1.0))
    looked = np.stack([display[..., 1] * 0.9 + 0.1, display[..., 2] ** 0.8, 1.0 - display[..., 0]], axis=-1)
    return display_to_linear(np.clip(looked, 0.0, 1.0)).astype(np.float32)


def propagate(shot, keyframes: dict[int, np.ndarray], keep=GUIDES, profile: cProfile.Profile | None = None,
              clock=time.process_time, cache_dir: str | None = None):
    """Results per frame and the seconds the op took on ``clock`` (by default CPU time: every thread, and the only core
    when pinned); with the result cache in ``cache_dir`` if given, else without one."""
    numbers = sorted(shot)
    op = PropagateOp(cache_dir=cache_dir)
    plan = op.prepare({"cache": cache_dir is not None}, {}, numbers, None,
                      {f"keyframe_{n}": look for n, look in keyframes.items()})
    frames = (InputFrame(n, {name: array for name, array in shot[n].items() if name == passes.BEAUTY or name in keep})
              for n in numbers)
    if profile:
        profile.enable()
    start = clock()
    outputs = list(op.run(plan, frames, JobContext("bench", numbers, {}, lambda: False)))
    seconds = clock() - start
    if profile:
        profile.disable()
    return {output.number: output.buffers for output in outputs}, seconds


def remap_reference(shot, key: int, look: np.ndarray, clock=time.process_time) -> tuple[dict[int, np.ndarray], float]:
    """The speed reference: from keyframe ``key`` on, each frame the previous result warped along its motion_backward."""
    numbers = [n for n in sorted(shot) if n >= key]
    height, width = look.shape[:2]
    grid = np.dstack(np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)))
    results = {key: look}
    start = clock()
    for before, now in zip(numbers, numbers[1:]):
        results[now] = cv2.remap(results[before], cv2.add(grid, shot[now][passes.MOTION_BACKWARD]), None, cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    return results, clock() - start


STAGES = [  # functions whose cumulative CPU time makes a stage (none calls another of them)
    (read_shot_frame, "read and check the buffers, guides at the working size"),
    (step_chain, "chain steps (working size, both directions)"),
    (assemble, "keyframes sampled at full size and blended, trust, confidence (one pass)"),
    (Holes.__init__, "guided fill: the holes"),
    (StyleModel.__init__, "guided fill: keyframe models (once per keyframe)"),
    (StyleModel.fill, "guided fill: matching and colour"),
    (propagate_module._Propagation._emit_keyframe, "keyframes returned as painted"),
]


def stage_times(profile: cProfile.Profile, frames: int, seconds: float) -> list[tuple[str, float]]:
    """CPU ms a frame per stage, and the rest of the op's ``seconds`` (trust, the fill's blend, queueing) as one more."""
    stats = pstats.Stats(profile).stats
    rows = []
    for function, stage in STAGES:
        code = function.__code__
        cumulative = sum(entry[3] for key, entry in stats.items() if key == (code.co_filename, code.co_firstlineno, code.co_name))
        rows.append((stage, cumulative / frames * 1000))
    rows.append(("trust, the fill's blend and the rest", seconds / frames * 1000 - sum(ms for _, ms in rows)))
    return rows


def psnr(got: np.ndarray, expected: np.ndarray, where: np.ndarray) -> float:
    error = (linear_to_display(np.clip(got[..., :3], 0, 1)) - linear_to_display(np.clip(expected, 0, 1))) ** 2
    return float(10 * np.log10(1.0 / max(error[where].mean(), 1e-12)))


def quality(results, shot) -> tuple[float, float]:
    inner = sorted(shot)[1:-1]
    seen = [psnr(results[n][passes.BEAUTY], style(shot[n][passes.BEAUTY]), results[n]["confidence"][..., 2] == 0) for n in inner]
    every = [psnr(results[n][passes.BEAUTY], style(shot[n][passes.BEAUTY]), np.ones(shot[n][passes.DEPTH].shape, bool)) for n in inner]
    return float(np.mean(seen)), float(np.mean(every))


def flicker(displays: dict[int, np.ndarray], shot) -> float:
    numbers = sorted(shot)
    values = []
    for before, now in zip(numbers, numbers[1:]):
        valid = consistency_mask(shot[now][passes.MOTION_BACKWARD], shot[before][passes.MOTION_FORWARD],
                                 depth=shot[now][passes.DEPTH], previous_depth=shot[before][passes.DEPTH]) > 0.5
        difference = np.abs(displays[now] - warp(displays[before], shot[now][passes.MOTION_BACKWARD])).mean(axis=-1)
        values.append(float(difference[valid].mean()))
    return float(np.mean(values))


def upscale(buffers: dict[str, np.ndarray], size=(1920, 1080)) -> dict[str, np.ndarray]:
    """The render's buffers at another size: images smoothly, ids and depth by nearest, motion scaled with the image."""
    height, width = buffers[passes.BEAUTY].shape[:2]
    scale = np.array([size[0] / width, size[1] / height], np.float32)
    out = {}
    for name in (passes.BEAUTY, *GUIDES):
        nearest = name in (passes.DEPTH, passes.OBJECT_INDEX)
        resized = cv2.resize(buffers[name], size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR)
        out[name] = resized * scale if name in (passes.MOTION_BACKWARD, passes.MOTION_FORWARD) else resized
    return out


def contact_sheet(path: Path, shot, results, keys) -> None:
    numbers = sorted(shot)
    picks = [numbers[0], numbers[len(numbers) // 3], numbers[2 * len(numbers) // 3], numbers[-1]]
    tile = lambda rgb: np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)  # noqa: E731
    rows = [np.hstack([tile(linear_to_display(shot[n][passes.BEAUTY][..., :3])) for n in picks]),
            np.hstack([tile(linear_to_display(results[n][passes.BEAUTY][..., :3])) for n in picks]),
            np.hstack([tile(np.dstack([results[n]["confidence"][..., 0], results[n]["confidence"][..., 0],
                                       results[n]["confidence"][..., 2]])) for n in picks])]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    print(f"contact sheet (render / propagated from keyframes {keys} / trust in grey, synthesised in blue): {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--speed-frames", type=int, default=6, help="frames of the 1080p speed run")
    parser.add_argument("--sheet", type=Path, default=Path("propagate_contact_sheet.png"))
    args = parser.parse_args()
    keep_frame_memory()  # as the server does: each frame reuses the last one's buffers
    with tempfile.TemporaryDirectory(prefix="framebridge-propagate-") as folder:
        start = time.perf_counter()
        shot = render(Path(folder), args.frames, args.width, args.height, args.samples)
        print(f"rendered {args.frames} frames at {args.width}x{args.height} in {time.perf_counter() - start:.1f} s")
    keys = [1, args.frames]
    keyframes = {n: style(shot[n][passes.BEAUTY]) for n in keys}

    results, _ = propagate(shot, keyframes)
    baseline, _ = propagate(shot, keyframes, keep=())
    ours, theirs = quality(results, shot), quality(baseline, shot)
    print(f"PSNR vs the every-frame style (dB): propagate seen {ours[0]:.1f}, all {ours[1]:.1f}; "
          f"DIS optical flow without passes seen {theirs[0]:.1f}, all {theirs[1]:.1f}; "
          f"difference on all pixels {ours[1] - theirs[1]:+.1f} dB (goal > 0)")
    contact_sheet(args.sheet, shot, results, keys)

    restyle = RestyleOp()
    numbers = sorted(shot)
    plan = restyle.prepare({"look": "toon", "cache": False}, {}, numbers, "cpu")
    restyled = {output.number: output.buffers[passes.BEAUTY][..., :3] for output in
                restyle.run(plan, (InputFrame(n, shot[n]) for n in numbers), JobContext("bench", numbers, {}, lambda: False))}
    toon, _ = propagate(shot, {n: restyled[n] for n in keys})
    flicker_propagate = flicker({n: linear_to_display(np.clip(toon[n][passes.BEAUTY][..., :3], 0, None)) for n in numbers}, shot)
    flicker_restyle = flicker({n: linear_to_display(np.clip(restyled[n], 0, None)) for n in numbers}, shot)
    print(f"flicker (display values): propagate from 2 toon keyframes {flicker_propagate:.5f}, restyle toon every frame "
          f"with temporal on {flicker_restyle:.5f}, ratio {flicker_propagate / flicker_restyle:.2f} (goal < 1)")

    speed(shot, keyframes, args.speed_frames)


def whole_shot(shot, keyframes, middle: int) -> None:
    """1080p wall time on every core for the whole shot, keyframes on its first, ``middle`` and last frames: spans
    overlap (the next one is read while the last is finished), as in a real shot with a keyframe every few frames."""
    numbers = sorted(shot)
    keys = [numbers[0], middle, numbers[-1]]
    big = {n: upscale(shot[n]) for n in numbers}
    big_keys = {n: cv2.resize(keyframes.get(n, style(shot[n][passes.BEAUTY])), (1920, 1080)) for n in keys}
    propagate(big, big_keys)
    _, wall = propagate(big, big_keys, clock=time.perf_counter)
    print(f"1920x1080, the whole shot: {len(numbers)} frames (keyframes {', '.join(map(str, keys))}), wall time on all "
          f"{default_threads()} cores: propagate {len(numbers) / wall:.2f} fps ({wall / len(numbers) * 1000:.0f} ms a frame; "
          f"goal >= 8)")


def speed(shot, keyframes, frames: int) -> None:
    """1080p frames per second in wall time on every core and in CPU time on one core, each against the bare remap
    reference, with the one-core stages."""
    span = sorted(shot)[:frames]
    big = {n: upscale(shot[n]) for n in span}
    big_keys = {span[0]: cv2.resize(keyframes[span[0]], (1920, 1080)),
                span[-1]: cv2.resize(style(shot[span[-1]][passes.BEAUTY]), (1920, 1080))}
    # The span once off the clock (first calls, allocations): the timed run reuses that memory, as a serving process does.
    propagate(big, big_keys)
    main_thread = time.thread_time()
    _, wall = propagate(big, big_keys, clock=time.perf_counter)
    main_thread = time.thread_time() - main_thread
    _, reference_wall = remap_reference(big, span[0], big_keys[span[0]], clock=time.perf_counter)
    ours, theirs = len(span) / wall, (len(span) - 1) / reference_wall
    print(f"1920x1080, {len(span)} frames (keyframes {span[0]} and {span[-1]}), wall time on all {default_threads()} cores "
          f"({default_threads()} propagate threads, OpenCV on {cv2.getNumThreads()}; other jobs on a shared machine slow it): "
          f"propagate {ours:.2f} fps ({1000 / ours:.0f} ms a frame; goal >= 8), bare remap reference {theirs:.1f} fps, "
          f"ratio {ours / theirs:.3f}")
    print(f"  of which CPU time on the calling thread (reading and checking frames, queueing: what more threads do not "
          f"shorten) {main_thread / len(span) * 1000:.0f} ms a frame")
    with tempfile.TemporaryDirectory() as folder:
        _, cached = propagate(big, big_keys, clock=time.perf_counter, cache_dir=folder)
    print(f"  the same with the result cache on (the server's default: every input digested, every result written to "
          f"disk; all misses): propagate {len(span) / cached:.2f} fps ({cached / len(span) * 1000:.0f} ms a frame)")
    whole_shot(shot, keyframes, span[-1])
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    # The span once off the clock and its results dropped: the timed run reuses that memory, as a serving process
    # reuses its last frames' (fresh memory costs page faults, system time that varies a lot from run to run).
    propagate(big, big_keys)
    before = resource.getrusage(resource.RUSAGE_SELF)
    results, seconds = propagate(big, big_keys)
    after = resource.getrusage(resource.RUSAGE_SELF)
    reference, reference_seconds = remap_reference(big, span[0], big_keys[span[0]])
    ours, theirs = len(span) / seconds, (len(span) - 1) / reference_seconds
    print(f"1920x1080, {len(span)} frames (keyframes {span[0]} and {span[-1]}), CPU time on one core (pinned, one propagate "
          f"thread, OpenCV on one thread): propagate {ours:.2f} fps ({1000 / ours:.0f} ms a frame; for reference: the goal "
          f"of 8 fps is for the whole CPU, the wall-time rows above), bare remap reference {theirs:.1f} fps, "
          f"ratio {ours / theirs:.3f}")
    print(f"  of which user {(after.ru_utime - before.ru_utime) / len(span) * 1000:.0f} ms and system "
          f"{(after.ru_stime - before.ru_stime) / len(span) * 1000:.0f} ms a frame (page faults)")
    inner = span[1:-1]
    expected = {n: cv2.resize(style(shot[n][passes.BEAUTY]), (1920, 1080)) for n in inner}
    everywhere = np.ones((1080, 1920), bool)
    ours_psnr = np.mean([psnr(results[n][passes.BEAUTY], expected[n], everywhere) for n in inner])
    seen_psnr = np.mean([psnr(results[n][passes.BEAUTY], expected[n], results[n][propagate_module.CONFIDENCE][..., 2] == 0)
                         for n in inner])
    reference_psnr = np.mean([psnr(reference[n], expected[n], everywhere) for n in inner])
    del results, reference, expected  # the profiled run reuses their memory, as the timed one did
    profile = cProfile.Profile(time.process_time)
    _, profiled = propagate(big, big_keys, profile=profile)
    print(f"  where the time goes (a second run under cProfile on CPU time, {profiled / len(span) * 1000:.0f} ms a frame there):")
    for stage, milliseconds in stage_times(profile, len(span), profiled):
        print(f"  {stage:<55} {milliseconds:7.1f} ms a frame")
    print(f"1920x1080 PSNR vs the every-frame style scaled up (dB): propagate all {ours_psnr:.1f}, seen {seen_psnr:.1f}; "
          f"bare remap reference all {reference_psnr:.1f}")


if __name__ == "__main__":
    main()
