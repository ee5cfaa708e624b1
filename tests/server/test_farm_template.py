"""The Open Job Description template: validated and run locally with openjd-cli on a small shot."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures.chunks import sliding_shot
from framebridge.protocol import exr, passes
from framebridge.server.chunks import plan_chunks
from framebridge.server.ops.restyle import TEMPORAL_CHUNKS
from framebridge.server.seams import seam_ratio

TEMPLATE = Path(__file__).resolve().parents[2] / "farm" / "openjd" / "framebridge_chunks.yaml"
FRAMES = list(range(1001, 1025))
CHUNKS = 3

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("openjd") is None, reason="openjd-cli is not installed")]


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("farm_shot")
    frames = sliding_shot(FRAMES)
    for frame in frames:
        exr.write_exr(folder / f"frame_{frame.number:04d}.exr", dict(frame.buffers))
    return folder / "frame_####.exr", {frame.number: dict(frame.buffers) for frame in frames}


@pytest.fixture(scope="module")
def framebridge(tmp_path_factory) -> Path:
    """A `framebridge` command running this Python, as a farm worker's PATH would give it."""
    script = tmp_path_factory.mktemp("bin") / "framebridge"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -m framebridge.server \"$@\"\n")
    script.chmod(0o755)
    return script


def test_the_template_passes_openjd_validation():
    result = subprocess.run(["openjd", "check", str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def farm_and_single(framebridge, pattern, folder: Path, params: dict) -> tuple[dict, dict]:
    (folder / "params.json").write_text(json.dumps({"cache": False, **params}))
    job = {"FrameBridge": str(framebridge), "Op": "restyle", "InputPattern": str(pattern),
           "OutputPattern": str(folder / "farm" / "frame_####.exr"), "ParamsFile": str(folder / "params.json"),
           "Frames": f"{FRAMES[0]}-{FRAMES[-1]}", "ChunkCount": str(CHUNKS)}
    result = subprocess.run(["openjd", "run", str(TEMPLATE), "--step", "Join", "--run-dependencies", "--job-param",
                             json.dumps(job)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Session ended successfully" in result.stdout
    single = subprocess.run([str(framebridge), "run", "restyle", "--input", str(pattern), "--output",
                             str(folder / "one" / "frame_####.exr"), "--params-file", str(folder / "params.json")],
                            capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr

    def read(name):
        return {number: exr.read_frame(folder / name / f"frame_{number:04d}.exr")[passes.BEAUTY] for number in FRAMES}

    return read("farm"), read("one")


def test_temporal_off_farm_tasks_give_the_single_runs_frames_exactly(framebridge, shot, tmp_path):
    farm, single = farm_and_single(framebridge, shot[0], tmp_path, {"temporal": False})
    for number in FRAMES:
        np.testing.assert_array_equal(farm[number], single[number])


def test_temporal_farm_tasks_stay_within_the_seam_bound_of_the_single_run(framebridge, shot, tmp_path):
    farm, single = farm_and_single(framebridge, shot[0], tmp_path, {"look": "sketch"})
    starts = {chunk.frames[0] for chunk in plan_chunks(FRAMES, CHUNKS, TEMPORAL_CHUNKS)[1:]}
    assert seam_ratio(farm, shot[1], starts).ratio <= 1.25
    differs = [number for number in FRAMES if not np.array_equal(farm[number], single[number])]
    assert differs and min(differs) >= min(starts) - TEMPORAL_CHUNKS.fade
    assert max(float(np.abs(farm[n] - single[n]).max()) for n in FRAMES) < 0.1
