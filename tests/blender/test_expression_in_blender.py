"""The expression operator in real Blender (the bpy module) on Sequencer strips, against a live server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from framebridge.protocol.exr import read_frame

pytestmark = [pytest.mark.blender, pytest.mark.slow]

SCENARIO = Path(__file__).resolve().with_name("expression_scenario.py")


def _write(folder: Path, images: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True)
    for index, image in enumerate(images, start=1):
        cv2.imwrite(str(folder / f"frame_{index:04d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return folder


def test_the_result_strip_lands_above_the_plate_with_every_frame(server, tmp_path, astronaut, mouth_driver):
    driver, _ = mouth_driver
    plate = _write(tmp_path / "plate", [astronaut, astronaut])
    actor = _write(tmp_path / "actor", [driver[0], driver[2]])
    with server.client(timeout=120) as client:
        client.capabilities()  # a fresh server describes every backend once, slowly; the add-on's check then answers fast
    report_path = tmp_path / "report.json"
    command = [sys.executable, str(SCENARIO), "--plate", str(plate), "--driver", str(actor), "--connection-file",
               str(server.connection_file), "--out", str(tmp_path / "out"), "--report", str(report_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["outcome"] == ["FINISHED"] and "has no frame for plate frames" in report["bad"]
    strip = report["strip"]
    assert strip["channel"] == 2 and strip["start"] == 1 and strip["elements"] == ["frame_0001.exr", "frame_0002.exr"]
    beauty = read_frame(Path(strip["directory"]) / "frame_0002.exr")["beauty"]
    assert beauty.shape == (512, 512, 4)
    # The plate's own pixels away from the face came back untouched (the 8-bit PNG read as Blender reads it).
    first = read_frame(Path(strip["directory"]) / "frame_0001.exr")["beauty"]
    assert np.abs(beauty[400:, :100] - first[400:, :100]).max() == 0.0
    assert np.abs(beauty[150:200, 180:270] - first[150:200, 180:270]).max() > 0.01
