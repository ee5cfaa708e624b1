"""Frames per second of each `extract` condition at 1920x1080 on one CPU core.

Each pass-based condition (depth, normal, segmentation, pose) and the beauty-based
ones (canny, lineart) run through the op exactly as a job does, uint8 output,
against a baseline measured in the same run: a tiny random-weight DPT depth
estimator (the `estimators` backend's code path, a model far smaller than any
real one) on the same frame. Goal: every pass-based condition >= 100 fps.

    python benchmarks/extract.py [--seconds 2] [--width 1920 --height 1080]
"""

from __future__ import annotations

import os

# One core: set before numpy/torch/OpenCV start their thread pools.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from framebridge.protocol import passes
from framebridge.server.ops.base import InputFrame, JobContext
from framebridge.server.ops.extract import ExtractOp

PASS_CONDITIONS = ("depth", "normal", "segmentation", "pose")
IMAGE_CONDITIONS = ("canny", "lineart")


def synthetic_frame(width: int, height: int) -> dict[str, np.ndarray]:
    """A render-like frame: a floor gradient, three shaded discs at known depths, one person's joints."""
    import cv2

    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    depth = 5.0 + 20.0 * (1.0 - rows / height)
    normal = np.zeros((height, width, 3), np.float32)
    normal[..., 2] = 1.0
    index = np.zeros((height, width), np.float32)
    beauty = np.dstack([0.2 * rows / height + 0.05] * 3 + [np.ones_like(rows)]).astype(np.float32)
    for object_id, (cx, cy, radius, distance) in enumerate([(0.3, 0.5, 0.18, 4.0), (0.6, 0.45, 0.12, 8.0), (0.8, 0.7, 0.08, 12.0)], start=1):
        cx, cy, radius = cx * width, cy * height, radius * height
        dx, dy = (columns - cx) / radius, (rows - cy) / radius
        inside = dx * dx + dy * dy < 1.0
        dz = np.sqrt(np.clip(1.0 - dx * dx - dy * dy, 0.0, 1.0))
        depth[inside] = distance - dz[inside]
        normal[inside] = np.stack([dx, -dy, dz], axis=-1)[inside]
        index[inside] = object_id
        shade = np.clip(0.3 + 0.7 * (0.5 * dx - 0.5 * dy + dz) / 1.5, 0.0, 1.0)
        beauty[inside, :3] = (shade[inside, None] * np.array([0.8, 0.5, 0.3], np.float32) * object_id / 2)
    beauty[..., :3] += np.random.default_rng(0).normal(0.0, 0.01, (height, width, 3)).astype(np.float32)
    cv2.putText(beauty, "FrameBridge", (width // 10, height // 6), cv2.FONT_HERSHEY_SIMPLEX, height / 300, (0.9, 0.9, 0.9, 1.0), 3)
    joints = np.array([[[0.5 * width + 40 * np.cos(k), 0.3 * height + 40 * k, 1.0] for k in range(18)]], np.float32)
    world_from_camera = np.eye(4, dtype=np.float32)
    return {
        passes.BEAUTY: beauty,
        passes.DEPTH: depth.astype(np.float32),
        passes.NORMAL: normal,
        passes.OBJECT_INDEX: index,
        passes.POSE_JOINTS: joints,
        passes.CAMERA_MATRIX: world_from_camera,
    }


def frames_per_second(op: ExtractOp, plan, frame: dict[str, np.ndarray], seconds: float) -> float:
    """Frames per second of the op over one repeated frame, after a warm-up frame."""
    context = JobContext("benchmark", [], {}, lambda: False)
    next(op.run(plan, iter([InputFrame(0, frame)]), context))
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 3:
        for result in op.run(plan, iter([InputFrame(count, frame)]), context):
            assert not hasattr(result, "error"), result
        count += 1
    return count / (time.perf_counter() - start)


def tiny_depth_estimator(folder: Path) -> Path:
    """Save a random-weight DPT and a models TOML naming it; returns the TOML path."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    torch.manual_seed(0)
    config = DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37, image_size=384, patch_size=16,
        backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, reassemble_factors=[4, 2, 1, 0.5],
    )
    DPTForDepthEstimation(config).save_pretrained(folder / "tiny-dpt")
    DPTImageProcessor(size={"height": 384, "width": 384}, keep_aspect_ratio=False).save_pretrained(folder / "tiny-dpt")
    config_file = folder / "models.toml"
    config_file.write_text('[estimators]\ndepth = "./tiny-dpt"\n')
    return config_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    args = parser.parse_args()

    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    frame = synthetic_frame(args.width, args.height)
    op = ExtractOp()

    with tempfile.TemporaryDirectory() as folder:
        os.environ["FRAMEBRIDGE_MODELS"] = str(tiny_depth_estimator(Path(folder)))
        plan = op.prepare({"conditions": ["depth"]}, {}, [0], "estimators")
        baseline = frames_per_second(op, plan, frame, args.seconds)

    print(f"extract at {args.width}x{args.height}, one core, uint8 output")
    print(f"baseline: tiny random-weight DPT estimator (384x384 input): {baseline:8.1f} fps")
    print(f"{'condition':<14}{'fps':>9}{'x baseline':>12}  goal")
    for condition in PASS_CONDITIONS + IMAGE_CONDITIONS:
        plan = op.prepare({"conditions": [condition]}, {}, [0], None)
        fps = frames_per_second(op, plan, frame, args.seconds)
        goal = ("met" if fps >= 100 else "MISSED") + " (>= 100 fps)" if condition in PASS_CONDITIONS else "-"
        print(f"{condition:<14}{fps:9.1f}{fps / baseline:12.1f}  {goal}")
    plan = op.prepare({"conditions": list(PASS_CONDITIONS)}, {}, [0], None)
    fps = frames_per_second(op, plan, frame, args.seconds)
    print(f"{'all 4 passes':<14}{fps:9.1f}{fps / baseline:12.1f}")


if __name__ == "__main__":
    main()
