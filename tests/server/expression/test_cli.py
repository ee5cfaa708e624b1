"""`framebridge run expression`: a still or a plate driven by a clip on disk, outputs by name, resumable, typed errors."""

from __future__ import annotations

import cv2

from framebridge.protocol import exr
from framebridge.server.cli import main
from framebridge.server.expression.job import plan_expression_run


def _write_clip(folder, frames) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for number, image in frames.items():
        cv2.imwrite(str(folder / f"frame_{number:04d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return str(folder / "frame_####.png")


def test_a_still_is_animated_into_exr_layers_and_a_rerun_hits_the_cache(tmp_path, monkeypatch, second_face, mouth_driver):
    monkeypatch.setenv("FRAMEBRIDGE_CACHE_DIR", str(tmp_path / "cache"))
    driver, _ = mouth_driver
    driving = _write_clip(tmp_path / "actor", {n: driver[n - 1] for n in (1, 2, 3)})
    cv2.imwrite(str(tmp_path / "portrait.png"), cv2.cvtColor(second_face, cv2.COLOR_RGB2BGR))
    command = ["run", "expression", "--source", str(tmp_path / "portrait.png"), "--driving", driving,
               "--output", str(tmp_path / "out" / "frame_####.exr"), "--regions", "lips,pose"]
    assert main(command) == 0
    frame = exr.read_layers(tmp_path / "out" / "frame_0003.exr")
    assert set(frame) == {"", "face_matte", "stmap"}  # beauty is the plain RGBA layer Nuke reads as rgba
    assert frame["stmap"].shape == (512, 512, 2) and frame["face_matte"].max() == 1.0
    entries = sorted((tmp_path / "cache" / "expression").rglob("*.npy"))
    assert entries
    stamps = {path: path.stat().st_mtime_ns for path in entries}
    assert main(command) == 0
    assert {path: path.stat().st_mtime_ns for path in entries} == stamps  # served from the cache, nothing rewritten


def test_named_outputs_write_the_matte_and_stmap_as_their_own_files(tmp_path, astronaut, mouth_driver):
    driver, _ = mouth_driver
    driving = _write_clip(tmp_path / "actor", {11: driver[0], 12: driver[2]})
    plate = _write_clip(tmp_path / "plate", {1: astronaut, 2: astronaut})
    assert main(["run", "expression", "--input", plate, "--driving", driving, "--driving-offset", "10",
                 "--output", str(tmp_path / "out" / "{name}.####.png"), "--param", "cache=false"]) == 0
    names = sorted(path.name for path in (tmp_path / "out").iterdir() if not path.name.startswith("."))  # not the run record
    assert names == ["beauty.0001.png", "beauty.0002.png", "face_matte.0001.png", "face_matte.0002.png",
                     "stmap.0001.png", "stmap.0002.png"]


def test_a_short_driver_or_unpaired_counts_fail_before_any_frame(tmp_path, capsys, astronaut, mouth_driver):
    driver, _ = mouth_driver
    driving = _write_clip(tmp_path / "actor", {1: driver[0], 2: driver[1]})
    plate = _write_clip(tmp_path / "plate", {n: astronaut for n in (1, 2, 3)})
    output = str(tmp_path / "out" / "frame_####.exr")
    assert main(["run", "expression", "--input", plate, "--driving", driving, "--output", output]) == 2
    assert "say how they pair" in capsys.readouterr().err
    assert main(["run", "expression", "--input", plate, "--driving", driving, "--driving-offset", "0",
                 "--output", output]) == 2
    assert "shorter than the target range" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("frame_*"))


def test_the_reference_frame_travels_as_a_job_buffer(tmp_path, mouth_driver):
    driver, _ = mouth_driver
    driving = _write_clip(tmp_path / "actor", {n: driver[n - 1] for n in (1, 2, 3)})
    planned = plan_expression_run(driving, input_pattern=driving, source=None, frames=None, driving_offset=None,
                                  reference_frame=3, params={})
    assert planned.frames == [1, 2, 3] and planned.params["driving_range"] == [1, 3]
    assert planned.job_buffers["reference"].shape == (512, 512, 3)
    assert planned.paired == {"driving": (driving, 0)}
