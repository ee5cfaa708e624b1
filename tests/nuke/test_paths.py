"""Capture paths, the Read node's knob values and the job plan."""

from pathlib import Path

import pytest

from framebridge.nuke_plugin.core.job import contiguous_runs, default_output_folder, plan_job
from framebridge.nuke_plugin.core.paths import CaptureFolder, beside, nuke_path, read_knobs, removed_on_failure, version_folder
from framebridge.protocol.errors import InvalidParams, MissingInput


def test_nuke_paths_use_forward_slashes():
    assert nuke_path(r"C:\shots\sh010\frame_####.exr") == "C:/shots/sh010/frame_####.exr"


def test_capture_folder_names_the_write_pattern_and_each_frame(tmp_path):
    capture = CaptureFolder(tmp_path)
    assert capture.pattern.endswith("/capture.%04d.exr")
    assert capture.path(1001).name == "capture.1001.exr"
    assert capture.path(3).parent == capture.folder
    capture.remove()
    assert list(tmp_path.iterdir()) == []


def test_captures_are_removed_when_capturing_fails_and_kept_when_it_succeeds(tmp_path):
    kept = (CaptureFolder(tmp_path), CaptureFolder(tmp_path))
    with removed_on_failure(*kept):
        pass
    assert all(capture.folder.is_dir() for capture in kept)
    failed = (CaptureFolder(tmp_path), CaptureFolder(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        with removed_on_failure(*failed):
            raise KeyboardInterrupt
    assert not any(capture.folder.exists() for capture in failed)


def test_read_knobs_cover_the_published_range_and_read_raw(tmp_path):
    knobs = read_knobs(tmp_path / "v002", [1003, 1001, 1002], "restyle")
    pattern = f"{(tmp_path / 'v002').resolve().as_posix()}/frame_####.exr"
    assert knobs == {
        "file": pattern, "file_text": f"{pattern} 1001-1003", "first": 1001, "last": 1003, "origfirst": 1001,
        "origlast": 1003, "raw": True, "on_error": "error", "label": "FrameBridge restyle\nv002",
    }
    assert read_knobs(tmp_path, [5], "extract")["raw"] is True


def test_each_send_gets_the_next_version_folder_and_an_empty_one_is_reused(tmp_path):
    assert version_folder(tmp_path / "out") == tmp_path / "out" / "v001"
    (tmp_path / "out" / "v001").mkdir(parents=True)
    (tmp_path / "out" / "v001" / ".framebridge-staging-x").mkdir()  # what a failed send leaves
    assert version_folder(tmp_path / "out") == tmp_path / "out" / "v001"
    (tmp_path / "out" / "v001" / "frame_0001.exr").write_bytes(b"")
    (tmp_path / "out" / "v009").mkdir()
    (tmp_path / "out" / "v009" / "frame_0001.exr").write_bytes(b"")
    (tmp_path / "out" / "notes").mkdir()
    assert version_folder(tmp_path / "out") == tmp_path / "out" / "v010"


def test_read_knobs_refuse_gaps_and_nothing(tmp_path):
    with pytest.raises(InvalidParams, match="not contiguous"):
        read_knobs(tmp_path, [1, 3], "restyle")
    with pytest.raises(InvalidParams, match="no result frames"):
        read_knobs(tmp_path, [], "restyle")


def test_results_are_placed_right_of_the_source():
    assert beside(100, 50) == (220, 50)
    assert beside(0, 0, width=120, gap=10) == (130, 0)


def test_contiguous_runs_split_a_frame_list():
    assert contiguous_runs([9, 1, 2, 3, 7, 10, 2]) == [(1, 3), (7, 7), (9, 10)]
    assert contiguous_runs([]) == []


def test_default_output_folder_sits_next_to_the_script_or_in_home(tmp_path):
    assert default_output_folder("/shows/a/sh010_comp_v003.nk", "FrameBridge1", "restyle") == str(
        Path("/shows/a/framebridge/FrameBridge1_restyle"))
    assert default_output_folder("", "FrameBridge2", "extract", home=tmp_path) == str(tmp_path / "framebridge" / "FrameBridge2_extract")


def test_plan_job_gathers_frames_params_shot_layers_and_connection(tmp_path):
    values = {"op": "restyle", "prompt": "toon", "strength": {1001: 0.2, 1002: 0.4}, "range_mode": "input",
              "output_folder": " ", "connection_file": str(tmp_path / "c.json"), "address": " tcp://127.0.0.1:5555 "}
    request = plan_job(values, input_first=1001, input_last=1002, channels=["rgba.red", "rgba.green", "rgba.blue", "depth.Z"],
                       fps=25, width=64, height=32, script_path=str(tmp_path / "comp.nk"), node_name="FrameBridge1")
    assert request.frames == (1001, 1002)
    assert request.params["strength"] == {"1001": 0.2, "1002": 0.4}
    assert request.shot == {"fps": 25.0, "resolution": [64, 32], "frame_range": [1001, 1002]}
    assert request.layers.layers == ("rgba", "depth")
    assert request.output_folder == str(tmp_path / "framebridge" / "FrameBridge1_restyle")
    assert request.connection.connection_file == str(tmp_path / "c.json")
    assert request.connection.address == "tcp://127.0.0.1:5555" and request.connection.timeout == 5.0
    custom = plan_job({"op": "extract", "cond_depth": True, "range_mode": "custom", "frames": "3-4", "output_folder": "/o"},
                      input_first=1, input_last=9, channels=["depth.Z"], fps=24, width=8, height=8)
    assert custom.frames == (3, 4) and custom.output_folder == "/o" and custom.layers.buffers == ("depth",)
    with pytest.raises(MissingInput):
        plan_job({"op": "extract", "cond_normal": True}, input_first=1, input_last=1, channels=["rgba.red"], fps=24,
                 width=8, height=8)
