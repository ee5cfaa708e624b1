"""The real `framebridge` command in a subprocess: each common mistake ends in one line naming the problem and the fix."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from framebridge.protocol import exr
from framebridge.server.cli import build_parser
from framebridge.server.restyle.cpu import LOOKS, PALETTES

ROOT = Path(__file__).resolve().parents[2]


def framebridge(*arguments: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    environment = {**os.environ, "FRAMEBRIDGE_CACHE_DIR": str((cwd or Path.cwd()) / "cache")}
    return subprocess.run([sys.executable, "-m", "framebridge.server", *arguments], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=environment)


def one_line_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    """The single error line in stderr, checked to hold every expected phrase and no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for phrase in expected:
        assert phrase in lines[0], lines[0]
    return lines[0]


def write_plates(folder: Path, frames=(1, 2), size=(24, 32)) -> None:
    rng = np.random.default_rng(2)
    folder.mkdir(parents=True, exist_ok=True)
    for number in frames:
        exr.write_exr(folder / f"frame_{number:04d}.exr", {"beauty": rng.random((*size, 4), dtype=np.float32),
                                                          "depth": rng.uniform(2, 9, size).astype(np.float32)})


# Finding 3: tracebacks where one line was promised.

def test_serve_on_a_port_in_use_says_so_and_how_to_pick_another(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = framebridge("serve", "--address", f"tcp://127.0.0.1:{port}", "--connection-file", str(tmp_path / "c.json"))
    assert result.returncode == 2
    one_line_error(result, "[bind_failed]", f"tcp://127.0.0.1:{port}", "in use", "tcp://127.0.0.1:*")


def test_serve_with_a_connection_file_folder_that_cannot_be_made_names_it(tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = framebridge("serve", "--connection-file", str(tmp_path / "blocker" / "keys" / "c.json"))
    assert result.returncode == 2
    one_line_error(result, "[connection_file]", "cannot write the connection file", "--connection-file")


@pytest.mark.parametrize("flag", ["--params-file", "--shot"])
@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    ("folder", "is a folder"),
    ("{'strength': 0.5", "is not valid JSON"),
    ("[1, 2]", "holds a JSON list, not an object"),
])
def test_json_option_files_that_are_missing_folders_invalid_or_not_objects(tmp_path, flag, content, expected):
    write_plates(tmp_path / "render", frames=(1,))
    given = tmp_path / "given.json"
    if content == "folder":
        given.mkdir()
    elif content is not None:
        given.write_text(content)
    result = framebridge("run", "echo", "--input", "render/frame_####.exr", "--output", "out/e_####.exr",
                         flag, str(given), cwd=tmp_path)
    assert result.returncode == 2
    one_line_error(result, "[invalid_params]", flag, expected, "fix:")
    assert not (tmp_path / "out").exists()


def test_ctrl_c_during_a_run_stops_in_one_line_and_the_rerun_resumes(tmp_path):
    write_plates(tmp_path / "render", frames=range(1, 41), size=(360, 640))
    command = [sys.executable, "-m", "framebridge.server", "run", "restyle", "--input", "render/frame_####.exr",
               "--output", "out/r_####.exr", "--prompt", "paint", "--seed", "1"]
    environment = {**os.environ, "FRAMEBRIDGE_CACHE_DIR": str(tmp_path / "cache")}
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment)
    progress = process.stderr.readline()  # the first frame's progress line: the run is under way
    assert "restyle [" in progress, progress
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    rest = [line for line in stderr.splitlines() if not line.startswith("restyle [")]
    assert "Traceback" not in stderr and len(rest) == 1, stderr
    assert "interrupted" in rest[0] and "run the same command again to resume" in rest[0]
    written = sorted((tmp_path / "out").glob("r_*.exr"))
    assert 1 <= len(written) < 40
    for path in written:  # every file left behind is a whole EXR
        assert exr.read_frame(path)["beauty"].shape == (360, 640, 4)


@pytest.mark.blender
def test_blender_headless_with_a_missing_blend_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "framebridge.blender_addon.headless", str(tmp_path / "shot.blend"),
                             "--frames", "1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    one_line_error(result, "shot.blend does not exist", "fix:")


def test_building_the_extension_with_an_old_setuptools_builds_in_isolation(monkeypatch, tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_blender_extension", ROOT / "scripts" / "build_blender_extension.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    commands = []
    monkeypatch.setattr(script, "setuptools_version", lambda: "65.5.0")
    monkeypatch.setattr(script, "run", commands.append)
    script.build_framebridge_wheel(tmp_path)
    assert "--no-build-isolation" not in commands[0] and "older than 77" in capsys.readouterr().out

    def fail(command):
        raise subprocess.CalledProcessError(1, command)

    monkeypatch.setattr(script, "run", fail)
    assert script.main(["--out", str(tmp_path / "dist")]) == 1
    error = capsys.readouterr().err
    assert "Traceback" not in error and error.count("\n") == 1 and "setuptools>=77" in error


# Finding 4: errors that misled or came late.

def test_an_input_pattern_with_the_wrong_padding_names_the_padding(tmp_path):
    write_plates(tmp_path / "render")
    result = framebridge("run", "echo", "--input", "render/frame_###.exr", "--output", "out/e_####.exr", cwd=tmp_path)
    assert result.returncode == 2
    one_line_error(result, "pads frame numbers to 3 digits", "frame_0001.exr", "####")


def test_a_bogus_serve_address_is_not_called_a_non_loopback_one(tmp_path):
    result = framebridge("serve", "--address", "bogus", "--connection-file", str(tmp_path / "c.json"))
    assert result.returncode == 2
    line = one_line_error(result, "'bogus' is not a ZeroMQ endpoint", "tcp://127.0.0.1:5581")
    assert "curve" not in line.lower()


def test_an_output_folder_that_cannot_be_written_is_refused_before_any_frame(tmp_path):
    write_plates(tmp_path / "render")
    (tmp_path / "out").write_text("a file where the output folder should be")
    result = framebridge("run", "restyle", "--input", "render/frame_####.exr", "--output", "out/r/r_####.exr",
                         cwd=tmp_path)
    assert result.returncode == 2
    one_line_error(result, "[bad_media]", "output folder", "cannot be written", "fix:")
    assert not (tmp_path / "cache").exists(), "no frame may be computed"


def test_a_multi_buffer_extract_to_one_image_per_frame_is_refused_before_any_frame(tmp_path):
    write_plates(tmp_path / "render")
    result = framebridge("run", "extract", "--input", "render/frame_####.exr", "--output", "cond/c_####.png",
                         "--conditions", "depth,canny", cwd=tmp_path)
    assert result.returncode == 2
    one_line_error(result, "control_depth, control_canny", "{name}")
    assert not (tmp_path / "cond").exists()


@pytest.mark.parametrize("arguments, choices", [
    (("run", "bogus"), ("echo", "extract", "restyle")),
    (("run", "restyle", "--param", "look=watercolour"), LOOKS),
    (("run", "restyle", "--param", "palette=rainbow"), tuple(PALETTES)),
])
def test_unknown_op_look_and_palette_list_the_valid_choices(tmp_path, arguments, choices):
    write_plates(tmp_path / "render", frames=(1,))
    result = framebridge(*arguments, "--input", "render/frame_####.exr", "--output", "out/o_####.exr", cwd=tmp_path)
    assert result.returncode == 2
    one_line_error(result, *choices)


def test_a_depth_request_on_png_frames_points_to_the_estimators_backend(tmp_path):
    import cv2

    (tmp_path / "plate").mkdir()
    cv2.imwrite(str(tmp_path / "plate" / "p_0001.png"), np.full((16, 16, 3), 120, np.uint8))
    result = framebridge("run", "extract", "--input", "plate/p_####.png", "--output", "c/{name}.####.png",
                         "--conditions", "depth", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "frame 1 failed [missing_input]" in result.stderr and "--backend estimators" in result.stderr


# Finding 5: help.

def test_every_option_of_every_command_has_help():
    parser = build_parser()
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    missing = [f"{name} {action.option_strings or action.dest}" for name, command in commands.choices.items()
               for action in command._actions if not action.help]
    assert not missing


def test_run_help_lists_the_looks_palettes_and_the_strength_range(tmp_path):
    result = framebridge("run", "--help")
    text = " ".join(result.stdout.split())
    assert result.returncode == 0
    for name in (*LOOKS, *PALETTES):
        assert name in text
    assert "0 (the input) .. 1 (the full look)" in text and "estimators" in text


def test_version_prints_the_package_and_protocol_versions():
    result = framebridge("--version")
    assert result.returncode == 0 and result.stdout.startswith("framebridge 0.") and "protocol 1." in result.stdout


# Finding 2: the README's extract example on renders, with a moving camera.

def write_camera_plates(folder: Path, cameras: dict[int, np.ndarray] | None, frames=(1, 2), size=(24, 32)) -> None:
    rng = np.random.default_rng(4)
    folder.mkdir(parents=True, exist_ok=True)
    normal = np.zeros((*size, 3), np.float32)
    normal[..., 1] = -1.0  # facing a camera that looks along +y
    for number in frames:
        buffers = {"beauty": rng.random((*size, 4), dtype=np.float32), "depth": rng.uniform(2, 9, size).astype(np.float32),
                   "normal": normal}
        if cameras:
            buffers["camera_matrix"] = cameras[number]
        exr.write_exr(folder / f"frame_{number:04d}.exr", buffers)


def moving_cameras(frames=(1, 2)) -> dict[int, np.ndarray]:
    cameras = {}
    for number in frames:
        camera = np.array([[1, 0, 0, 0], [0, 0, -1, -10], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float32)
        camera[0, 3] = 0.5 * number
        cameras[number] = camera
    return cameras


def test_extract_without_cameras_keeps_depth_and_canny_and_names_the_normal_failure(tmp_path):
    write_camera_plates(tmp_path / "render", cameras=None)
    result = framebridge("run", "extract", "--input", "render/frame_####.exr", "--output", "cond/{name}.####.png",
                         "--conditions", "depth,normal,canny", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    failures = [line for line in result.stderr.splitlines() if "failed" in line]
    assert len(failures) == 2 and all("normal failed [missing_input]" in line and "fix:" in line for line in failures)
    assert "--shot scene.json" in failures[0] and "EXR header" in failures[0]
    for number in (1, 2):
        assert (tmp_path / f"cond/control_depth.{number:04d}.png").exists()
        assert (tmp_path / f"cond/control_canny.{number:04d}.png").exists()
        assert not (tmp_path / f"cond/control_normal.{number:04d}.png").exists()


def test_extract_reads_each_frames_camera_from_the_exr_header(tmp_path):
    write_camera_plates(tmp_path / "render", cameras=moving_cameras())
    result = framebridge("run", "extract", "--input", "render/frame_####.exr", "--output", "cond/{name}.####.png",
                         "--conditions", "depth,normal,canny", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cond/control_normal.0002.png").exists()


def test_extract_takes_per_frame_cameras_from_a_scene_json_shot_file(tmp_path):
    import cv2

    write_camera_plates(tmp_path / "render", cameras=None)
    scene = {"width": 32, "height": 24, "frames": {str(n): {"camera_matrix": m.tolist()} for n, m in moving_cameras().items()}}
    (tmp_path / "render" / "scene.json").write_text(json.dumps(scene))
    result = framebridge("run", "extract", "--input", "render/frame_####.exr", "--output", "cond/{name}.####.png",
                         "--conditions", "normal", "--shot", "render/scene.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    normal = cv2.imread(str(tmp_path / "cond/control_normal.0001.png"))[..., ::-1]
    assert abs(int(normal[5, 5, 2]) - 255) <= 1  # facing the camera: B (towards the camera) is full


def test_a_shot_file_with_a_malformed_camera_is_one_line(tmp_path):
    write_camera_plates(tmp_path / "render", cameras=None)
    (tmp_path / "shot.json").write_text(json.dumps({"frames": {"1": {"camera_matrix": [[1, 2], [3, 4]]}}}))
    result = framebridge("run", "extract", "--input", "render/frame_####.exr", "--output", "c/{name}.####.png",
                         "--conditions", "normal", "--shot", "shot.json", cwd=tmp_path)
    assert result.returncode == 2
    one_line_error(result, "frames['1'].camera_matrix must be 4x4", "fix:")
