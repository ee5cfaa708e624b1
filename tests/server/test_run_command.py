"""`framebridge run`: an op over a frame sequence, in-process or on a server."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from framebridge.protocol import exr
from framebridge.protocol.errors import InvalidParams, MediaError
from framebridge.server.colour import display_to_linear
from framebridge.server.runner import run_sequence
from framebridge.server.sequences import FramePattern, read_frame


def write_plates(folder, frames=(1, 2, 3), size=(24, 40)):
    rng = np.random.default_rng(5)
    plates = {}
    for number in frames:
        plates[number] = {"beauty": rng.random((*size, 4), dtype=np.float32) * 4.0,
                          "depth": rng.uniform(1, 20, size).astype(np.float32)}
        exr.write_exr(folder / f"plate_{number:04d}.exr", plates[number])
    return plates


def test_frame_patterns():
    assert FramePattern("a/frame_####.exr").path(12).name == "frame_0012.exr"
    assert FramePattern("a/frame_%03d.exr").path(7).name == "frame_007.exr"
    assert FramePattern("c/{name}.##.png").path(3, "control_depth").name == "control_depth.03.png"
    with pytest.raises(InvalidParams):
        FramePattern("no_placeholder.exr")


def test_run_echo_in_process_writes_exact_floats(tmp_path):
    plates = write_plates(tmp_path)
    report = run_sequence("echo", str(tmp_path / "plate_####.exr"), str(tmp_path / "out/echo_####.exr"))
    assert sorted(report.written) == [1, 2, 3] and not report.failed
    for number, plate in plates.items():
        back = exr.read_frame(tmp_path / f"out/echo_{number:04d}.exr")
        np.testing.assert_array_equal(back["beauty"], plate["beauty"])
        np.testing.assert_array_equal(back["depth"], plate["depth"])


def test_run_on_a_server_matches_in_process(tmp_path, server):
    write_plates(tmp_path)
    report = run_sequence("extract", str(tmp_path / "plate_####.exr"), str(tmp_path / "srv/c_####.exr"),
                          params={"conditions": ["depth", "canny"]}, connection_file=server.connection_file)
    local = run_sequence("extract", str(tmp_path / "plate_####.exr"), str(tmp_path / "local/c_####.exr"),
                         params={"conditions": ["depth", "canny"]})
    assert sorted(report.written) == sorted(local.written) == [1, 2, 3]
    for number in (1, 2, 3):
        remote = exr.read_layers(tmp_path / f"srv/c_{number:04d}.exr")
        here = exr.read_layers(tmp_path / f"local/c_{number:04d}.exr")
        assert remote.keys() == here.keys()
        for name in remote:
            np.testing.assert_array_equal(remote[name], here[name])


def test_a_missing_input_frame_is_named_and_the_rest_are_written(tmp_path):
    write_plates(tmp_path, frames=(1, 3))
    report = run_sequence("echo", str(tmp_path / "plate_####.exr"), str(tmp_path / "out/e_####.exr"), [1, 2, 3])
    assert sorted(report.written) == [1, 3]
    assert isinstance(report.failed[2], MediaError) and "plate_0002.exr" in str(report.failed[2])


def test_png_frames_are_read_as_linear_beauty(tmp_path):
    import cv2

    pixels = np.zeros((4, 6, 3), np.uint8)
    pixels[..., 2] = 188  # red in BGR order
    cv2.imwrite(str(tmp_path / "p_0001.png"), pixels)
    beauty = read_frame(FramePattern(str(tmp_path / "p_####.png")), 1)["beauty"]
    np.testing.assert_allclose(beauty[0, 0], [display_to_linear(np.float32(188 / 255)), 0, 0], atol=1e-6)


def test_command_line_run_reports_and_exits_nonzero_on_failures(tmp_path):
    write_plates(tmp_path, frames=(1,))
    command = [sys.executable, "-m", "framebridge.server", "run", "echo", "--input", str(tmp_path / "plate_####.exr"),
               "--output", str(tmp_path / "o/f_####.exr"), "--frames", "1-2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "1/2 frames" in result.stdout and "frame 2 failed [bad_media]" in result.stderr
    assert (tmp_path / "o/f_0001.exr").exists() and not (tmp_path / "o/f_0002.exr").exists()


def test_an_interrupted_restyle_run_resumes_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMEBRIDGE_CACHE_DIR", str(tmp_path / "cache"))
    write_plates(tmp_path, frames=(1, 2, 3, 4))
    arguments = ("restyle", str(tmp_path / "plate_####.exr"), str(tmp_path / "out/r_####.exr"))
    first = run_sequence(*arguments, params={"prompt": "toon", "seed": 3})
    written = {number: exr.read_frame(paths[0])["beauty"] for number, paths in first.written.items()}
    for number in (3, 4):  # as if the run had been killed after frame 2
        (tmp_path / f"out/r_{number:04d}.exr").unlink()
    resumed = run_sequence(*arguments, params={"prompt": "toon", "seed": 3})
    assert [resumed.meta[n]["cache"] for n in (1, 2, 3, 4)] == ["hit"] * 4
    for number, beauty in written.items():
        np.testing.assert_array_equal(exr.read_frame(tmp_path / f"out/r_{number:04d}.exr")["beauty"], beauty)


def test_extract_depth_is_normalised_over_the_whole_shot_not_the_first_frame(tmp_path):
    size = (16, 16)
    beauty = np.full((*size, 4), 0.5, dtype=np.float32)
    first = np.full(size, 10.0, dtype=np.float32)
    first[:, :8] = 5.0
    second = first.copy()
    second[4:8, 4:8] = 1.0  # a nearer object enters in frame 2
    for number, depth in ((1, first), (2, second)):
        exr.write_exr(tmp_path / f"plate_{number:04d}.exr", {"beauty": beauty, "depth": depth})
    report = run_sequence("extract", str(tmp_path / "plate_####.exr"), str(tmp_path / "out/c_####.exr"),
                          params={"conditions": ["depth"], "output_dtype": "float32"})
    assert not report.failed
    assert report.meta[2]["depth_range"] == [1.0, 10.0] and report.meta[2]["depth_range_source"] == "shot"
    control = exr.read_layers(tmp_path / "out/c_0002.exr")["control_depth"]
    control = control if control.ndim == 2 else control[..., 0]
    assert control[5, 5] > control[0, 0] > control[0, 12]  # the near object, the depth-5 half, the depth-10 half


def test_a_given_depth_range_is_not_replaced_by_the_scan(tmp_path):
    write_plates(tmp_path, frames=(1, 2))
    report = run_sequence("extract", str(tmp_path / "plate_####.exr"), str(tmp_path / "out/c_####.exr"),
                          params={"conditions": ["depth"]}, shot={"depth_range": [2.0, 30.0]})
    assert report.meta[1]["depth_range"] == [2.0, 30.0] and report.meta[1]["depth_range_source"] == "shot"
