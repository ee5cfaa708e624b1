"""The ``liveportrait`` expression backend's time per frame, by stage, at the release's width.

    python benchmarks/liveportrait.py [--frames 3 --device cpu --tiny --plate 1920x1080]

Writes seeded random weights in the official layout (the networks are the release's
size, so the arithmetic is the real one; the pictures are noise), loads them through the
production loader, and animates scikit-image's astronaut with a second face as driver.
Prints seconds per stage (motion extractor, appearance extractor, warping + generator,
and everything around the networks: crops, paste-back, STMap, landmarks) and each
stage's share of the frame. The first frame (loading and the source's features) is
reported apart.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    parser.add_argument("--tiny", action="store_true", help="the test suite's tiny widths instead of the release's")
    parser.add_argument("--plate", default="512x512", help="plate size WxH: the astronaut scaled to its height, centred")
    arguments = parser.parse_args()

    import cv2
    import numpy as np
    import torch
    from skimage.data import astronaut

    from fixtures.liveportrait import TINY_ARCHITECTURE, save_release
    from framebridge.server.expression.backend import AnimateRequest, FaceState, Motion
    from framebridge.server.faces import FaceTracker, landmark_provider
    from framebridge.server.liveportrait.architecture import Architecture, architecture_to_dict
    from framebridge.server.liveportrait.backend import LivePortraitBackend
    from framebridge.server.liveportrait.networks import build_networks
    from framebridge.server.models import load_config

    architecture = TINY_ARCHITECTURE if arguments.tiny else Architecture()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "liveportrait"
        torch.manual_seed(0)
        save_release(build_networks(architecture), folder)
        (folder / "architecture.json").write_text(json.dumps(architecture_to_dict(architecture)), encoding="utf-8")
        (Path(scratch) / "models.toml").write_text('[expression]\nliveportrait = "./liveportrait"\n', encoding="utf-8")
        backend = LivePortraitBackend(load_config(Path(scratch) / "models.toml"), device=arguments.device)

        width, height = (int(value) for value in arguments.plate.lower().split("x"))
        portrait = cv2.resize(astronaut(), (height, height), interpolation=cv2.INTER_LINEAR)
        target = cv2.copyMakeBorder(portrait, 0, 0, max(width - height, 0) // 2, max(width - height, 0) - max(width - height, 0) // 2,
                                    cv2.BORDER_REFLECT)[:, :width]
        matrix = cv2.getRotationMatrix2D((width / 2, 0.25 * height), 6.0, 0.9)
        driver = cv2.warpAffine(target, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
        tracker = FaceTracker(landmark_provider("dlib"))
        target_face, driver_face = tracker.find(target), FaceTracker(landmark_provider("dlib")).find(driver)
        states = [FaceState(face.landmarks.astype(np.float32), face.box) for face in (target_face, driver_face)]
        images = [image.astype(np.float32) / 255 for image in (target, driver)]
        request = AnimateRequest(
            target=images[0], target_face=states[0], driving=images[1], driving_face=states[1], reference=images[0],
            reference_face=states[0], source_key="astronaut", motion=Motion(frozenset({"expression", "eyes", "lips", "pose"}), {}, True),
        )

        started = time.perf_counter()
        backend.animate(request)
        first = time.perf_counter() - started
        model = backend._loaded()
        spent: dict[str, float] = defaultdict(float)
        for stage, method in (("motion extractor", "motion"), ("warp + generator", "render"), ("stitching MLP", "stitching")):
            original = getattr(model, method)

            def timed(*args, _original=original, _stage=stage, **kwargs):
                begun = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    spent[_stage] += time.perf_counter() - begun

            setattr(model, method, timed)
        started = time.perf_counter()
        for _ in range(arguments.frames):
            backend.animate(request)
        total = (time.perf_counter() - started) / arguments.frames

    print(f"liveportrait backend, {'tiny' if arguments.tiny else 'release'} widths, plate {width}x{height}, device {model.device}, "
          f"{'fp16' if model.half else 'fp32'}, threads {torch.get_num_threads()}")
    print(f"  first frame (load + source features): {first:.2f} s")
    print(f"  per frame after that: {total:.2f} s ({1 / total:.2f} fps)")
    around = total - sum(spent.values()) / arguments.frames
    for stage, seconds in [*spent.items(), ("crops, paste-back, STMap, landmarks", around * arguments.frames)]:
        share = seconds / arguments.frames
        print(f"  {stage:<38} {share:7.3f} s  {share / total:6.1%}")


if __name__ == "__main__":
    main()
