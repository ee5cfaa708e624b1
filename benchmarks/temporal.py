"""Temporal stability of `restyle` on a Blender-rendered moving shot, temporal on against off.

The demo scene (blender_addon/demo_scene.py) is rendered with Cycles into a temp
folder, with the camera panning across the shot so every pixel moves (the demo's
mover alone leaves the frame after a few frames); ``--pan 0`` renders the demo
scene as it is. Each look is restyled by the op in-process on the CPU default
backend, cache off, once with ``temporal`` off, once on (default ``temporal_strength``) as the op runs it
(colour and ink lines blended as layers), and once on with the looks blended as
finished images (the op's path for filter backends without layers, the CPU
backend's before it drew layers): old against new in the same run.

Flicker measure, per consecutive pair: the display-encoded output of frame n-1 is
warped into frame n along the render's ``motion_backward`` of frame n, occluded
pixels are left out (the geometric consistency mask from frame n-1's
``motion_forward`` and both depths, the same pixels for on and off), and the mean
absolute difference over the rest is taken; pairs are averaged. The input frames
get the same measure: the render's own change, the floor no restyle can beat.
Goal: on <= half of off.

Ghosting measure, per frame after the first: the output's edge energy (Sobel
gradient magnitude of its display luminance) averaged over the pixels where the
input has no edge within 3 pixels (nor a geometry edge from the object-index and
depth passes the sketch look draws), temporal on against off. A line or shadow edge
carried from where it was a frame earlier is energy the input cannot explain; with
no ghosts on/off stays at or below 1 (goal <= 1.0).

    python benchmarks/temporal.py [--frames 12 --width 640 --height 360 --samples 8 --pan 1.5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from framebridge.protocol import passes
from framebridge.protocol.exr import read_frame
from framebridge.server.colour import linear_to_display
from framebridge.server.ops.base import InputFrame, JobContext
from framebridge.server.ops.restyle import RestyleOp
from framebridge.server.restyle.cpu import CpuBackend, geometry_outlines
from framebridge.server.restyle.temporal import consistency_mask, warp

LOOKS = ("toon", "paint", "sketch")
DEPTH_TOLERANCE = 0.05  # the op's default
STEADY_INPUT = 0.03  # display-value change under which an input pixel kept its look (the op's appearance_weight low end)

# Runs in a child process, so bpy never shares this one with OpenCV's threads.
RENDER_SCRIPT = """
import sys
import bpy
from framebridge.blender_addon.demo_scene import build_scene, render_frames

out, frames, width, height, samples, pan = sys.argv[1], *map(int, sys.argv[2:6]), float(sys.argv[6])
scene = build_scene(width, height, frames, samples, cryptomatte=False)
bpy.context.preferences.edit.keyframe_new_interpolation_type = "LINEAR"
camera = scene.camera
for number in range(0, frames + 2):
    camera.location.x = pan * (number / (frames + 1) - 0.5)
    camera.location.z = 0.25 * pan * (number / (frames + 1) - 0.5)
    camera.keyframe_insert("location", frame=number)
render_frames(out, scene)
"""


def render_shot(folder: Path, frames: int, width: int, height: int, samples: int, pan: float) -> list[dict[str, np.ndarray]]:
    """The demo scene rendered to ``folder`` (camera panning by ``pan`` units), read back as canonical buffers."""
    arguments = [str(folder), str(frames), str(width), str(height), str(samples), str(pan)]
    subprocess.run([sys.executable, "-c", RENDER_SCRIPT, *arguments], check=True, capture_output=True)
    return [read_frame(folder / f"frame_{number:04d}.exr") for number in range(1, frames + 1)]


class ImageBlendCpu(CpuBackend):
    """The CPU looks with the temporal blend on the finished image instead of on colour and lines apart."""

    draws_layers = False


def restyle(op: RestyleOp, shot: list[dict[str, np.ndarray]], params: dict) -> list[np.ndarray]:
    """The op's display-encoded output of every frame, run in-process as a job runs it."""
    numbers = list(range(1, len(shot) + 1))
    plan = op.prepare(params, {}, numbers, "cpu")
    context = JobContext(job_id="bench", frames=numbers, shot={}, cancelled=lambda: False)
    outputs = list(op.run(plan, iter(InputFrame(n, buffers) for n, buffers in zip(numbers, shot)), context))
    failed = [output for output in outputs if not hasattr(output, "buffers")]
    if failed:
        raise SystemExit(f"restyle failed: {failed}")
    return [linear_to_display(output.buffers[passes.BEAUTY][..., :3]) for output in outputs]


def judged_pixels(shot: list[dict[str, np.ndarray]], inputs: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per pair, (geometric mask, mask of pixels whose input also kept its look) from frame n-1 to n.

    The second leaves out what render motion knows nothing of (the mover's shadow
    sweeping the backdrop, shading changes): there any change is the render's, so
    only there is the difference the restyle's own flicker.
    """
    masks = []
    for before, now, previous, current in zip(shot, shot[1:], inputs, inputs[1:]):
        backward = now[passes.MOTION_BACKWARD]
        valid = consistency_mask(backward, before[passes.MOTION_FORWARD], depth=now[passes.DEPTH],
                                 previous_depth=before[passes.DEPTH], depth_tolerance=DEPTH_TOLERANCE) > 0.5
        steady = np.abs(current - warp(previous, backward)).max(axis=-1) < STEADY_INPUT
        masks.append((valid, valid & steady))
    return masks


def flicker(displays: list[np.ndarray], shot: list[dict[str, np.ndarray]], masks) -> tuple[float, float]:
    """Mean absolute difference of each display frame from the previous one warped into it, over
    (geometric, steady) pixels, averaged over pairs."""
    geometric, steady = [], []
    for previous, current, now, (valid, kept) in zip(displays, displays[1:], shot[1:], masks):
        difference = np.abs(current - warp(previous, now[passes.MOTION_BACKWARD])).mean(axis=-1)
        geometric.append(float(difference[valid].mean()))
        steady.append(float(difference[kept].mean()))
    return float(np.mean(geometric)), float(np.mean(steady))


def _edges(luma: np.ndarray) -> np.ndarray:
    return np.hypot(cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3))


def edgeless_masks(shot: list[dict[str, np.ndarray]], inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Per frame, the pixels with no input edge (luminance, or geometry) within 3 pixels."""
    masks = []
    for frame, display in zip(shot, inputs):
        edges = (_edges(cv2.cvtColor(display, cv2.COLOR_RGB2GRAY)) > 0.02).astype(np.uint8)
        outlines = geometry_outlines({name: frame[name] for name in (passes.DEPTH, passes.OBJECT_INDEX) if name in frame},
                                     display.shape[:2])
        if outlines is not None:
            edges |= (outlines > 0.05).astype(np.uint8)
        masks.append(cv2.dilate(edges, np.ones((7, 7), np.uint8)) == 0)
    return masks


def ghosting(displays: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Mean output edge energy where the input has none, over every frame after the first."""
    return float(np.mean([_edges(cv2.cvtColor(display, cv2.COLOR_RGB2GRAY))[mask].mean()
                          for display, mask in zip(displays[1:], masks[1:])]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--pan", type=float, default=1.5, help="camera travel over the shot in world units (0: demo scene as is)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="framebridge-temporal-") as folder:
        start = time.perf_counter()
        shot = render_shot(Path(folder), args.frames, args.width, args.height, args.samples, args.pan)
        print(f"rendered {args.frames} frames at {args.width}x{args.height}, {args.samples} samples, "
              f"camera pan {args.pan} in {time.perf_counter() - start:.1f} s")

    inputs = [linear_to_display(frame[passes.BEAUTY][..., :3]) for frame in shot]
    masks = judged_pixels(shot, inputs)
    floor, floor_steady = flicker(inputs, shot, masks)
    moving = np.mean([np.hypot(*frame[passes.MOTION_BACKWARD].reshape(-1, 2).T).mean() for frame in shot[1:]])
    print(f"mean motion {moving:.2f} px/frame; pixels judged: not occluded {np.mean([v.mean() for v, _ in masks]):.1%}, "
          f"of those with a steady input {np.mean([k.mean() for _, k in masks]):.1%} of each frame")
    print("mean |frame n - warped frame n-1| in display values; all = every non-occluded pixel, steady = those whose input kept its look")
    print("on = temporal as the op runs it (colour and lines blended apart), image = temporal on the finished image (before)")
    print(f"{'':8} {'off':>9} {'on':>9} {'on/off':>7} {'image/off':>9} {'on/input':>9} | {'steady off':>10} {'on':>9} "
          f"{'on/off':>7} {'image/off':>9}")
    print(f"{'input':8} {floor:9.5f} {'':9} {'':7} {'':9} {'':9} | {floor_steady:10.5f}   (the render's own change: the floor)")
    ops = {"on": RestyleOp(), "image": RestyleOp(backends={"cpu": ImageBlendCpu})}
    edgeless = edgeless_masks(shot, inputs)
    ghosts = {}
    for look in LOOKS:
        start = time.perf_counter()
        displays = {"off": restyle(ops["on"], shot, {"look": look, "cache": False, "temporal": False})}
        displays.update({name: restyle(op, shot, {"look": look, "cache": False}) for name, op in ops.items()})
        measured = {name: flicker(images, shot, masks) for name, images in displays.items()}
        ghosts[look] = {name: ghosting(images, edgeless) for name, images in displays.items()}
        (off, off_steady), (on, on_steady), (image, image_steady) = (measured[name] for name in ("off", "on", "image"))
        print(f"{look:8} {off:9.5f} {on:9.5f} {on / off:7.3f} {image / off:9.3f} {on / floor:9.2f} | {off_steady:10.5f} "
              f"{on_steady:9.5f} {on_steady / off_steady:7.3f} {image_steady / off_steady:9.3f}  ({time.perf_counter() - start:.1f} s)")
    print("goal: on/off <= 0.5")
    print("\nghosting: output edge energy where the input has no edge, temporal on against off (goal: <= 1.0)")
    for look, energy in ghosts.items():
        on, image = energy["on"] / energy["off"], energy["image"] / energy["off"]
        print(f"{look:8} off {energy['off']:.5f}  on {energy['on']:.5f}  on/off {on:.3f} {'met' if on <= 1.0 else 'NOT met'}"
              f"  | image/off {image:.3f} (before)")

if __name__ == "__main__":
    main()
