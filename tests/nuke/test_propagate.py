"""The FrameBridge Propagate node: the keyframe list (pure), and the node against the strict fake nuke and a live server."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from framebridge.nuke_plugin.core.propagate import PROPAGATE_KNOBS, parse_keyframes, propagate_request
from framebridge.protocol.errors import InvalidParams, MissingInput, ShapeMismatch
from framebridge.protocol.exr import read_frame, read_layers

PLUGIN = Path(__file__).resolve().parents[2] / "nuke_plugin"
DEFAULTS = {spec.name: spec.default for spec in PROPAGATE_KNOBS if spec.kind not in ("tab", "text", "button")}
SHOT = dict(shot_first=1001, shot_last=1048, keyframes_first=1001, keyframes_last=1048, channels=["rgba.red"],
            shot_size=(24, 16), keyframes_size=(24, 16), fps=24.0)


def test_keyframes_are_read_from_spaces_or_commas_in_any_order():
    assert parse_keyframes("1048 1001,1024") == [1001, 1024, 1048]
    assert parse_keyframes(" 7 ") == [7]


@pytest.mark.parametrize("text, message", [
    ("", "no keyframes are listed"),
    ("  ,  ", "no keyframes are listed"),
    ("1001 1024 1001", "keyframe 1001 listed more than once"),
    ("1001 ten", "keyframe 'ten' is not a frame number"),
])
def test_bad_keyframe_lists_are_one_line_typed_errors(text, message):
    with pytest.raises(InvalidParams, match=message) as caught:
        parse_keyframes(text)
    assert "\n" not in str(caught.value)


def test_the_request_lists_the_keyframes_in_the_ops_params():
    request = propagate_request({**DEFAULTS, "keyframes": "1024 1001", "halflife": 6.0}, **SHOT)
    assert request.params == {"keyframes": [1001, 1024], "halflife": 6.0, "depth_tolerance": 0.05, "optical_flow": True}
    assert request.frames == tuple(range(1001, 1049)) and request.keyframes == (1001, 1024)
    assert request.op == "propagate" and request.layers.layers == ("rgba",)


@pytest.mark.parametrize("change, facts, error, message", [
    ({"keyframes": "1001 1100"}, {}, InvalidParams, "keyframes 1100 are outside the frames sent \\(1001-1048\\)"),
    ({"keyframes": "1001 1024", "range_mode": "custom", "frames": "1010-1020"}, {}, InvalidParams, "1001, 1024 are outside"),
    ({"keyframes": "1001 1024"}, {"keyframes_first": 1010}, MissingInput, "input 1 \\(keyframes\\) has no image at frame 1001"),
    ({"keyframes": "1001"}, {"keyframes_size": (48, 32)}, ShapeMismatch, "keyframes \\(input 1\\) are 48x32, the shot"),
    ({"keyframes": "1001", "range_mode": "custom", "frames": "1001,1003"}, {}, InvalidParams, "one contiguous frame range"),
    ({"keyframes": "1001", "halflife": 0.0}, {}, InvalidParams, "halflife must be between"),
])
def test_requests_the_op_would_refuse_are_refused_before_anything_renders(change, facts, error, message):
    with pytest.raises(error, match=message):
        propagate_request({**DEFAULTS, **change}, **{**SHOT, **facts})


def painted(planes):
    """A deterministic per-pixel 'paint' of a shot frame: what an artist's keyframe stands in for."""
    return {"rgba.red": 0.2 + 0.5 * planes["rgba.green"], "rgba.green": 1.0 - planes["rgba.red"] * 0.5,
            "rgba.blue": np.full_like(planes["rgba.red"], 0.9), "rgba.alpha": planes["rgba.alpha"]}


def propagate_node(nuke, plate, server, output, frames=(1, 2, 3, 4, 5, 6), painted_frames=(1, 6), keyframes="1 6"):
    from framebridge.nuke_plugin.host import propagate

    shot = plate("Shot1", frames=frames)
    paint = nuke.make_image_node("Paint1", {number: painted(plate.planes(number)) for number in painted_frames})
    node = propagate.create_propagate_node(shot, paint)
    node["connection_file"].setValue(str(server.connection_file))
    node["output_folder"].setValue(str(output))
    node["keyframes"].setValue(keyframes)
    node["timeout"].setValue(60.0)
    return node


def test_the_painted_keyframes_reach_the_server_and_the_result_read_has_beauty_and_confidence(nuke, plate, server, tmp_path):
    node = propagate_node(nuke, plate, server, tmp_path / "out")
    assert [child.name() for child in node.children if child.Class() == "Input"] == ["Source", "Keyframes", "Result"]
    nuke.press(node, "send")
    assert node["status"].value().startswith("done: 6 frames"), node["status"].value()
    read = node.input(2)
    assert read is not None and read.Class() == "Read" and node.input(1).name() == "Paint1"
    assert read["file"].getText().endswith("/out/v001/frame_####.exr") and (read.firstFrame(), read.lastFrame()) == (1, 6)
    assert node["show"].value() == "result" and node.node("ResultSwitch")["which"].value() == 1
    assert set(read_layers(tmp_path / "out" / "v001" / "frame_0003.exr")) == {"", "confidence"}
    for number in (1, 6):  # a keyframe's own frame is the painted image
        beauty = read_frame(tmp_path / "out" / "v001" / f"frame_{number:04d}.exr")["beauty"]
        np.testing.assert_allclose(beauty[..., 0], painted(plate.planes(number))["rgba.red"], atol=1e-5)
    shown = node._pixels(3)  # the node's output is the Read: rgba and the confidence layer a Shuffle can pick
    assert {"rgba.red", "confidence.R", "confidence.G", "confidence.B"} <= set(shown)
    assert np.all(shown["rgba.blue"] > 0.5)  # painted blue 0.9 carried in; the shot's own blue is 0.5
    keyframe_trust = node._pixels(1)["confidence.R"]
    assert np.all(keyframe_trust == 1.0) and np.all(shown["confidence.R"] < 1.0)
    # The shot once, then each keyframe on its own; no internal node is left behind.
    assert nuke.executed == [("Write1", 1, 6, 1), ("Write1", 1, 1, 1), ("Write1", 6, 6, 1)] and nuke.allNodes("Write") == []


@pytest.mark.parametrize("keyframes, message", [
    ("", "no keyframes are listed"),
    ("1 1", "keyframe 1 listed more than once"),
    ("1 60", "keyframes 60 are outside the frames sent (1-6)"),
])
def test_bad_keyframe_lists_fail_on_the_node_in_one_line_before_anything_renders(nuke, plate, server, tmp_path, keyframes,
                                                                                   message):
    node = propagate_node(nuke, plate, server, tmp_path / "out", keyframes=keyframes)
    nuke.press(node, "send")
    assert node["status"].value().startswith(f"failed: {message}") and node["tile_color"].value() == 0xB22222FF
    assert node["label"].value() == node["status"].value().splitlines()[0][:60] and "\n" not in node["label"].value()
    assert nuke.executed == [] and node.input(2) is None


def test_a_keyframe_where_input_1_has_no_image_is_named(nuke, plate, server, tmp_path):
    node = propagate_node(nuke, plate, server, tmp_path / "out", keyframes="1 3 6")
    nuke.press(node, "send")
    assert node["status"].value().startswith("failed: input 1 (keyframes) has no image at frame 3")
    assert node.input(2) is None and not (tmp_path / "out").exists()


def test_a_black_keyframe_is_named_and_nothing_is_sent(nuke, plate, server, tmp_path):
    from framebridge.nuke_plugin.host import propagate

    shot = plate("Shot1", frames=(1, 2, 3))
    black = {name: np.zeros_like(value) for name, value in plate.planes(2).items() if name.startswith("rgba")}
    node = propagate.create_propagate_node(shot, nuke.make_image_node("Paint1", {1: painted(plate.planes(1)), 2: black}))
    node["connection_file"].setValue(str(server.connection_file))
    node["keyframes"].setValue("1 2")
    nuke.press(node, "send")
    assert "input 1 (keyframes) has no image at frame 2: it renders black with zero alpha" in node["status"].value()


def test_a_node_without_its_keyframes_input_says_what_to_connect(nuke, plate):
    from framebridge.nuke_plugin.host import propagate

    node = propagate.create_propagate_node(plate("Shot1"))
    node["keyframes"].setValue("1")
    nuke.press(node, "send")
    assert "needs the shot on input 0 and the painted keyframes on input 1" in node["status"].value()


def test_a_gui_send_leaves_the_main_thread_free_and_reports_progress(nuke, plate, server, tmp_path, settle, monkeypatch):
    from framebridge.nuke_plugin.host import propagate

    nuke.GUI = True
    checked_in = []
    real_check = propagate.send.check

    def recording(request):
        checked_in.append(threading.current_thread() is threading.main_thread())
        return real_check(request)

    monkeypatch.setattr(propagate.send, "check", recording)
    node = propagate_node(nuke, plate, server, tmp_path / "out", frames=(1, 2, 3), painted_frames=(2,), keyframes="2")
    propagate.send_propagate(node)
    assert node["status"].value().startswith("sending 3 frames with keyframes 2") and nuke.executed == []
    settle()
    assert checked_in == [False] and node["status"].value().startswith("done: 3 frames")
    assert nuke.progress_tasks[-1].name == "FrameBridge propagate" and nuke.progress_tasks[-1].progress == 100
    assert nuke.undo_steps[-1] == ["step FrameBridge Send", "create Read1"] and nuke.messages == []


def test_cancel_from_the_progress_task_publishes_nothing(nuke, plate, server, tmp_path, settle):
    from framebridge.nuke_plugin.host import propagate

    nuke.GUI = True
    nuke.cancel_at_progress = 0
    node = propagate_node(nuke, plate, server, tmp_path / "out")
    propagate.send_propagate(node)
    settle()
    assert "cancelled" in node["status"].value() and node.input(2) is None
    assert all(not list(folder.iterdir()) for folder in (tmp_path / "out").iterdir())


def test_the_farm_wrapper_propagates_a_propagate_node(nuke, plate, server, tmp_path, capsys):
    from framebridge.nuke_plugin.host import farm

    nuke.script_loaders["/shots/paint.nk"] = lambda: propagate_node(nuke, plate, server, tmp_path / "unused")
    status = farm.main(["/shots/paint.nk", "FrameBridgePropagate1", "--frames=1-6", f"--output={tmp_path / 'farm'}",
                        "--set=keyframes=1 6"])
    assert status == 0, capsys.readouterr().err
    assert sorted(path.name for path in (tmp_path / "farm" / "v001").iterdir()) == [f"frame_{n:04d}.exr" for n in range(1, 7)]
    status = farm.main(["/shots/paint.nk", "FrameBridgePropagate1", "--set=keyframes=1 2"])
    assert status == 1 and "no image at frame 2" in capsys.readouterr().err


def test_the_menu_makes_a_propagate_node_on_the_selection(nuke, plate):
    import runpy

    nuke.GUI = True
    shot, paint = plate("Shot1"), plate("Paint1")
    nuke._selected[:] = [shot, paint]
    runpy.run_path(str(PLUGIN / "menu.py"))
    node = nuke.menus["Nodes"].items["FrameBridge"].items["FrameBridge Propagate"]()
    assert node.input(0) is shot and node.input(1) is paint and node.panel_shown
    assert "Shuffle confidence into rgba" in node["help"].value()
