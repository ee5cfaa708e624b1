"""`expression` on the CPU default backend: 1080p speed on one core, where the time goes, and expression fidelity.

A 1920x1080 plate holds the astronaut's face (scikit-image); the driver is the
astronaut at 512x512 opening and closing her mouth twice over 24 frames by a known
landmark warp. The op runs in-process, as a job runs it, on one thread:

(a) frames per second at 1080p with one face (goal: >= 5 fps on one core; counted in the
    thread's CPU time, so other work on a shared machine does not count), against
    a baseline measured in the same run: a full-resolution face search on every
    frame (what a tracker-less tool does), for the detection part alone;
(b) the time split into detection (face search), landmarks (68-point fits) and
    warp (transfer, thin-plate map, remap, matte), the rest being colour and paste-back;
(c) fidelity: the mouth-open ratio re-detected on the output against the driver's,
    over the 24 frames (Pearson correlation; goal >= 0.9);
(d) a contact sheet of driver, target and result rows.

    python benchmarks/expression.py [--frames 24 --out benchmark-output]
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from framebridge.server.colour import display_to_linear, linear_to_display  # noqa: E402
from framebridge.server.demo import write_contact_sheet  # noqa: E402
from framebridge.server.expression.synthetic import mouth_clip  # noqa: E402
from framebridge.server.faces import FaceTracker, grey_u8, landmark_provider  # noqa: E402
from framebridge.server.faces.regions import mouth_open_ratio  # noqa: E402
from framebridge.server.ops.base import InputFrame, JobContext  # noqa: E402
from framebridge.server.ops.expression import ExpressionOp  # noqa: E402


class Timed:
    """Wraps a method and adds up the seconds spent in it."""

    def __init__(self, owner, name: str):
        self.owner, self.name, self.seconds, self.calls = owner, name, 0.0, 0
        self.original = getattr(owner, name)
        setattr(owner, name, self)

    def __call__(self, *args, **kwargs):
        start = time.thread_time()
        try:
            return self.original(*args, **kwargs)
        finally:
            self.seconds += time.thread_time() - start
            self.calls += 1

    def restore(self) -> None:
        delattr(self.owner, self.name)


def plate_1080p(face: np.ndarray) -> np.ndarray:
    """The astronaut scaled to 1080 lines, centred on a 1920x1080 plate padded by reflection."""
    tall = cv2.resize(face, (1080, 1080), interpolation=cv2.INTER_CUBIC)
    return cv2.copyMakeBorder(tall, 0, 0, 420, 420, cv2.BORDER_REFLECT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--out", type=Path, default=Path("benchmark-output"))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    from skimage.data import astronaut

    face = np.ascontiguousarray(astronaut())
    provider = landmark_provider()
    driver, openings = mouth_clip(face, args.frames, opening=10.0)
    plate = plate_1080p(face)
    plate_linear = display_to_linear(plate.astype(np.float32) / 255.0)
    numbers = list(range(1, args.frames + 1))
    frames = [InputFrame(n, {"beauty": plate_linear, "driving": display_to_linear(image.astype(np.float32) / 255.0)})
              for n, image in zip(numbers, driver)]

    op = ExpressionOp()
    plan = op.prepare({"cache": False, "regions": "all"}, {}, numbers, "cpu", {})
    detect, fit, animate = Timed(provider, "detect"), Timed(provider, "landmarks"), Timed(plan.backend, "animate")
    context = JobContext(job_id="bench", frames=numbers, shot={}, cancelled=lambda: False)
    crop = (slice(0, 1080), slice(420, 1500))  # the square around the face, so rows line up
    outputs, failed, consumer = {}, [], 0.0
    start, wall = time.thread_time(), time.perf_counter()
    # Results are consumed as a job streams them (kept only as 8-bit face crops), not all held at full size.
    for result in op.run(plan, iter(frames), context):
        taken = time.thread_time()
        if hasattr(result, "buffers"):
            outputs[result.number] = (linear_to_display(result.buffers["beauty"][crop][..., :3]) * 255 + 0.5).astype(np.uint8)
        else:
            failed.append(result)
        consumer += time.thread_time() - taken
    seconds, wall = time.thread_time() - start - consumer, time.perf_counter() - wall
    for timer in (detect, fit, animate):
        timer.restore()
    if failed:
        raise SystemExit(f"expression failed: {failed}")

    grey = grey_u8(plate)
    baseline_start = time.thread_time()
    for _ in range(3):
        provider.detect(grey)
    full_search = (time.thread_time() - baseline_start) / 3

    # Detection and landmarks ran for the plate and the driver each frame; the warp once per frame.
    per_frame = {name: timer.seconds / len(numbers) for name, timer in (("detection", detect), ("landmarks", fit),
                                                                       ("warp", animate))}
    rest = seconds / len(numbers) - sum(per_frame.values())
    fps = len(numbers) / seconds
    print(f"expression cpu, 1920x1080 plate, driver 512x512, {len(numbers)} frames, one thread")
    print(f"  {fps:.2f} fps on one core ({seconds / len(numbers) * 1000:.0f} ms of CPU a frame; goal >= 5 fps); "
          f"wall clock {len(numbers) / wall:.2f} fps on this machine as loaded now")
    for name, value in per_frame.items():
        print(f"  {name:<10} {value * 1000:7.1f} ms a frame ({value / (seconds / len(numbers)):.0%})")
    print(f"  {'colour+paste':<10} {rest * 1000:7.1f} ms a frame")
    print(f"  detection per frame vs a full-resolution search of the plate ({full_search * 1000:.0f} ms): "
          f"{per_frame['detection'] / full_search:.2f}x")

    tracker = FaceTracker(provider)
    driver_ratio, output_ratio = [], []
    for number, image in zip(numbers, driver):
        driver_ratio.append(mouth_open_ratio(FaceTracker(provider).find(image).landmarks))
        found = tracker.find(outputs[number])
        output_ratio.append(mouth_open_ratio(found.landmarks) if found is not None else np.nan)
    valid = np.isfinite(output_ratio)
    correlation = float(np.corrcoef(np.array(driver_ratio)[valid], np.array(output_ratio)[valid])[0, 1])
    print(f"  fidelity: mouth-open ratio correlation driver vs output over {int(valid.sum())} frames: "
          f"{correlation:.3f} (goal >= 0.9); openings {min(openings):.1f}-{max(openings):.1f} px")

    # Close-ups: the driver's face, and the same square of the plate (its face is the astronaut's at 1080/512 scale).
    x0, y0, x1, y1 = FaceTracker(provider).find(face).box
    half, cx, cy = 0.9 * (x1 - x0), (x0 + x1) / 2, (y0 + y1) / 2
    near = (slice(int(cy - half), int(cy + half)), slice(int(cx - half), int(cx + half)))
    scale = 1080 / 512
    near_plate = (slice(int((cy - half) * scale), int((cy + half) * scale)),
                  slice(int((cx - half) * scale), int((cx + half) * scale)))
    shown = numbers[:: max(1, len(numbers) // 8)][:8]
    rows = {"driver": {n: driver[n - 1][near] for n in shown}, "target": {n: plate[crop][near_plate] for n in shown},
            "result": {n: outputs[n][near_plate] for n in shown}}
    sheet = write_contact_sheet(args.out / "expression_contact_sheet.png", shown, rows, order=("driver", "target", "result"),
                                linear=())
    print(f"  contact sheet: {sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
