"""The lip-sync operators in real Blender (bpy 5.0) against a live server, on a line espeak-ng speaks in the test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

from framebridge.blender_addon.lipsync_keys import (
    FrameCues,
    data_path,
    frame_cues_from_rhubarb,
    parse_rhubarb_json,
    plan_keys,
)
from framebridge.server.lipsync.espeak import synthesise
from framebridge.server.lipsync.formats import CueFile, render
from framebridge.server.lipsync.rules import Cue
from framebridge.server.ops.base import InputFrame, JobContext
from framebridge.server.ops.lipsync import LipsyncOp

pytestmark = [pytest.mark.blender, pytest.mark.slow]

SCENARIO = Path(__file__).resolve().parent / "lipsync_scenario.py"
SENTENCE = "Maybe Bob paid for the map."
STRIP_START = 10
MAPPING = {shape: shape for shape in "ABCDEFGHX"}


def expected_cues(samples, rate, frames) -> FrameCues:
    """What the op gives for the strip's frames, run in this process with the params the operator sends."""
    params = {"sample_rate": rate, "fps": 24.0, "start_frame": STRIP_START, "offset": 0.0, "extended_shapes": "GHX",
              "transcript": SENTENCE}
    op = LipsyncOp()
    plan = op.prepare(params, {}, frames, None, {"audio": samples})
    context = JobContext("test", frames, {}, lambda: False)
    results = list(op.run(plan, (InputFrame(n, {}) for n in frames), context))
    return FrameCues({r.number: r.meta["shape"] for r in results},
                     {r.number: tuple(float(v) for v in r.buffers["mouth_weights"]) for r in results})


def as_keys(plan, interpolation) -> dict:
    return {data_path(name): [[float(frame), round(value, 4), interpolation] for frame, value in keys]
            for name, keys in plan.items()}


@pytest.fixture(scope="module")
def blender_run(tmp_path_factory, server):
    folder = tmp_path_factory.mktemp("lipsync_blender")
    line = synthesise(SENTENCE)
    wav = folder / "line.wav"
    soundfile.write(str(wav), line.samples, line.sample_rate, subtype="FLOAT")
    cue_json = folder / "cues.json"
    cue_json.write_text(render(CueFile([Cue(0, 20, "X"), Cue(20, 45, "D"), Cue(45, 60, "A"), Cue(60, 90, "F")], 90), "json"))
    report = folder / "report.json"
    command = [sys.executable, str(SCENARIO), "--report", str(report), "--connection-file", str(server.connection_file),
               "--wav", str(wav), "--transcript", SENTENCE, "--cue-json", str(cue_json), "--strip-start", str(STRIP_START)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=folder)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return json.loads(report.read_text()), line, cue_json


def test_shape_keys_get_stepped_keys_at_the_expected_frames(blender_run):
    report, line, _ = blender_run
    assert report["results"] == [["FINISHED"]] * 4
    start, first, end = report["strip"]
    assert start == first == STRIP_START
    frames = list(range(int(first), int(end)))
    cues = expected_cues(line.samples, line.sample_rate, frames)
    expected = as_keys(plan_keys(cues, MAPPING, "CONSTANT", frames), "CONSTANT")
    keys = report["runs"]["constant"]
    for path, wanted in expected.items():
        user = [[1.0, 0.3, "BEZIER"]] if path == data_path("A") else []
        assert keys[path] == user + wanted, path
    closed = [frame for frame, value, _ in keys[data_path("A")] if value == 1.0]
    assert closed and all(first <= frame < end for frame, *_ in expected[data_path("A")])


def test_the_users_own_keys_are_untouched_and_keys_stay_inside_the_strip(blender_run):
    report, _, _ = blender_run
    start, first, end = report["strip"]
    for run in report["runs"].values():
        assert run[data_path("Smile")] == [[20.0, 0.7, "BEZIER"]]
        assert run[data_path("A")][0] == [1.0, 0.3, "BEZIER"]
        ours = [frame for path, keys in run.items() for frame, value, _ in keys
                if path != data_path("Smile") and [frame, value] != [1.0, 0.3]]
        assert all(first <= frame < end for frame in ours)


def test_rerun_replaces_only_its_own_keys(blender_run):
    report, _, _ = blender_run
    assert report["runs"]["constant_again"] == report["runs"]["constant"]


def test_crossfades_replace_the_stepped_keys_with_linear_weights(blender_run):
    report, line, _ = blender_run
    _, first, end = report["strip"]
    frames = list(range(int(first), int(end)))
    expected = as_keys(plan_keys(expected_cues(line.samples, line.sample_rate, frames), MAPPING, "CROSSFADE", frames),
                       "LINEAR")
    keys = report["runs"]["crossfade"]
    for path, wanted in expected.items():
        user = [[1.0, 0.3, "BEZIER"]] if path == data_path("A") else []
        assert keys[path] == user + wanted, path


def test_a_rhubarb_json_file_imports_as_keys(blender_run):
    report, _, cue_json = blender_run
    _, first, end = report["strip"]
    frames = range(int(first), int(end))
    cues = frame_cues_from_rhubarb(parse_rhubarb_json(cue_json.read_text()), 24.0, STRIP_START, frames)
    expected = as_keys(plan_keys(cues, MAPPING, "CONSTANT", frames), "CONSTANT")
    keys = report["runs"]["imported"]
    assert keys[data_path("D")] == expected[data_path("D")]
    assert [frame for frame, value, _ in keys[data_path("A")] if value == 1.0] == [float(STRIP_START + 11)]


def test_without_an_active_object_the_operator_reports_what_to_select(blender_run):
    assert "the active object has no shape keys" in blender_run[0]["no_object"]
