"""A Send behaves as in Nuke: the review's findings, each against the strict fake ``nuke`` and a live server."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from framebridge.protocol.exr import read_frame

PLUGIN = Path(__file__).resolve().parents[2] / "nuke_plugin"
FAKE = Path(__file__).with_name("fake_nuke.py")
HEIGHT, WIDTH = 16, 24


def bridge(nuke, nodes, source, server, output, op="echo", **knobs):
    node = nodes.create_bridge_node(op, source)
    node["connection_file"].setValue(str(server.connection_file))
    node["output_folder"].setValue(str(output))
    for name, value in knobs.items():
        node[name].setValue(value)
    return node


def test_the_send_button_makes_its_write_and_read_beside_the_node_not_inside_it(nuke, plate, server, tmp_path):
    """Finding 1: a button runs in its Group's context; nodes.* must not land inside the FrameBridge Group."""
    from framebridge.nuke_plugin.host import nodes

    comp = nuke.nodes.Group(name="Comp")
    with comp:
        source = plate("Plate1", frames=(1, 2))
        node = bridge(nuke, nodes, source, server, tmp_path / "out")
    inside = [child.name() for child in node.children]
    nuke.press(node, "send")
    assert [child.name() for child in node.children] == inside
    reads = [child for child in comp.children if child.Class() == "Read" and child is not source]
    assert len(reads) == 1 and reads[0].fullName() == "Comp.Read1" and node.input(1) is reads[0]
    assert nuke.executed == [("Write1", 1, 2, 1)] and nuke.deleted == ["Write1", "Remove1"]
    assert nuke.allNodes("Read") == []  # nothing leaked into the root either


def test_prompt_and_extra_params_are_sent_as_typed_not_through_tcl(nuke, plate, server, tmp_path):
    """Finding 2: value() would substitute [ ] and $ (or fail on them); getText() gives the text as typed."""
    from framebridge.nuke_plugin.host import nodes

    node = bridge(nuke, nodes, plate(frames=(1, 2)), server, tmp_path / "out", prompt="a [red] car, $5 {neon}",
                  extra_params='{"fail": [2]}')
    values = nodes.knob_values(node)
    assert values["prompt"] == "a [red] car, $5 {neon}" and values["extra_params"] == '{"fail": [2]}'
    nuke.press(node, "send")
    assert "frame 2" in node["status"].value() and node["tile_color"].value() == 0xB22222FF


def test_the_root_working_space_and_ocio_config_travel_with_the_shot(nuke, plate, monkeypatch):
    """Finding 4: the capture is raw working-space values, so the shot says which space and config they are in."""
    from framebridge.nuke_plugin.host import nodes, send
    from framebridge.protocol.errors import InvalidParams

    monkeypatch.delenv("OCIO", raising=False)
    node = nodes.create_bridge_node("restyle", plate())
    request, _ = send.prepare(node)
    assert "colour" not in request.shot  # nuke-default, linear: what the server assumes
    nuke.root()["OCIO_config"].setValue("fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1")
    nuke.root()["workingSpaceLUT"].setValue("ACEScg")
    request, _ = send.prepare(node)
    assert request.shot["colour"] == {"working_space": "ACEScg", "ocio_config": "ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1"}
    monkeypatch.setenv("OCIO", "/studio/config.ocio")
    assert send.prepare(node)[0].shot["colour"]["ocio_config"] == "/studio/config.ocio"
    monkeypatch.delenv("OCIO")
    nuke.root()["OCIO_config"].setValue("custom")
    with pytest.raises(InvalidParams, match="custom' with no path"):
        send.prepare(node)


def test_an_acescg_script_gets_its_result_back_in_acescg(nuke, plate, server, tmp_path, monkeypatch):
    """Finding 4: the server converts in and back; the Read is raw and names the working space only if it exists."""
    from framebridge.nuke_plugin.host import nodes

    monkeypatch.delenv("OCIO", raising=False)
    monkeypatch.setattr(nuke, "colorspaces", ["default", "Utility/ACEScg", "Utility/Raw"])  # no 'linear' in this config
    nuke.root()["OCIO_config"].setValue("fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1")
    nuke.root()["workingSpaceLUT"].setValue("ACEScg")
    node = bridge(nuke, nodes, plate(frames=(1,)), server, tmp_path / "out", op="restyle", strength=0.0,
                  extra_params='{"cache": false}')
    nuke.press(node, "send")
    read = node.input(1)
    assert read is not None and not read.hasError(), node["status"].value()
    assert read["raw"].value() is True and read["colorspace"].value() == "Utility/ACEScg"
    # strength 0 gives the input back: only a conversion that returns to ACEScg keeps the values.
    result = read_frame(tmp_path / "out" / "v001" / "frame_0001.exr")["beauty"]
    np.testing.assert_allclose(result[..., 0], plate.planes(1)["rgba.red"], atol=2e-3)
    nuke.root()["workingSpaceLUT"].setValue("scene_linear")
    nuke.press(node, "send")
    assert not node.input(1).hasError() and node.input(1)["colorspace"].value() == "default"


def test_the_result_read_takes_its_range_and_format_from_the_files(nuke, plate, server, tmp_path):
    """Finding 5: setValue on a Read's file reads neither range nor format; fromUserText does."""
    from framebridge.nuke_plugin.host import nodes

    node = bridge(nuke, nodes, plate(frames=(5, 6, 7)), server, tmp_path / "out")
    nuke.press(node, "send")
    read = node.input(1)
    assert (read.format().width(), read.format().height()) == (WIDTH, HEIGHT)
    assert (read.firstFrame(), read.lastFrame()) == (5, 7)
    np.testing.assert_allclose(node._pixels(6)["rgba.red"], plate.planes(6)["rgba.red"])  # the node now shows the result


@pytest.mark.parametrize("gone", ["deleted", "script closed"])
def test_a_result_whose_node_is_gone_says_where_its_files_are(nuke, plate, server, tmp_path, settle, capsys, gone):
    """Finding 6: the finish runs later in the main thread; the node may be gone by then."""
    from framebridge.nuke_plugin.host import entry, nodes

    nuke.GUI = True
    node = bridge(nuke, nodes, plate(frames=(1, 2)), server, tmp_path / "out")
    entry.send_node(node)
    deadline = time.monotonic() + 60
    while not nuke.executed and time.monotonic() < deadline:  # until the capture has run in the main thread
        if not nuke.run_main_thread():
            time.sleep(0.05)
    if gone == "deleted":
        nuke.delete(node)
    else:
        nuke.scriptClose()
    settle()
    folder = (tmp_path / "out" / "v001").resolve().as_posix()
    assert folder in nuke.messages[-1] and "2 result frames" in nuke.messages[-1]
    assert folder in capsys.readouterr().err and sorted(path.name for path in (tmp_path / "out" / "v001").iterdir()) == [
        "frame_0001.exr", "frame_0002.exr"]
    assert [node for node in nuke.allNodes() if node.Class() == "Read" and node.name() != "Plate1"] == []


def test_a_stereo_script_sends_one_view_and_a_proxy_script_is_refused(nuke, plate, server, tmp_path):
    """Finding 7: without views set, every view renders into the same files; proxy renders at proxy scale."""
    from framebridge.nuke_plugin.host import nodes

    nuke.script_views[:] = ["left", "right"]
    source = plate(frames=(1,), views=("left", "right"))
    node = bridge(nuke, nodes, source, server, tmp_path / "out")
    nuke.press(node, "send")
    left = read_frame(tmp_path / "out" / "v001" / "frame_0001.exr")["beauty"]
    np.testing.assert_allclose(left[..., 0], plate.planes(1)["rgba.red"])  # left: offset 0
    node["view"].setValue("right")
    nuke.press(node, "send")
    right = read_frame(tmp_path / "out" / "v002" / "frame_0001.exr")["beauty"]
    np.testing.assert_allclose(right[..., 0], plate.planes(1)["rgba.red"] + 1.0)
    node["view"].setValue("middle")
    nuke.press(node, "send")
    assert "no view 'middle'" in node["status"].value()
    node["view"].setValue("")
    nuke.root()["proxy"].setValue(True)
    executed = list(nuke.executed)
    nuke.press(node, "send")
    assert "proxy mode" in node["status"].value() and nuke.executed == executed


def test_each_send_writes_a_new_version_and_earlier_reads_keep_their_frames(nuke, plate, server, tmp_path):
    """Finding 8: one folder for every send changed earlier Reads and left stale frames after a shorter send."""
    from framebridge.nuke_plugin.host import nodes

    node = bridge(nuke, nodes, plate(frames=(1, 2, 3)), server, tmp_path / "out")
    nuke.press(node, "send")
    first = node.input(1)
    node["range_mode"].setValue("custom")
    node["frames"].setValue("1-2")
    nuke.press(node, "send")
    second = node.input(1)
    assert first is not second and first["file"].getText().endswith("/v001/frame_####.exr")
    assert second["file"].getText().endswith("/v002/frame_####.exr") and second["last"].value() == 2
    assert sorted(path.name for path in (tmp_path / "out" / "v001").iterdir()) == [
        "frame_0001.exr", "frame_0002.exr", "frame_0003.exr"]
    assert sorted(path.name for path in (tmp_path / "out" / "v002").iterdir()) == ["frame_0001.exr", "frame_0002.exr"]


def test_init_imports_neither_numpy_nor_zmq_at_nuke_start(tmp_path):
    """Finding 9: init.py runs at every Nuke start, farm renders of unrelated scripts included."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('nuke', {str(FAKE)!r})\n"
        "nuke = importlib.util.module_from_spec(spec); sys.modules['nuke'] = nuke; spec.loader.exec_module(nuke)\n"
        "heavy = {'numpy', 'zmq', 'msgpack', 'OpenEXR'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"  # the fake itself must not preload them
        f"exec(compile(open({str(PLUGIN / 'init.py')!r}).read(), 'init.py', 'exec'), {{'__name__': '__main__'}})\n"
        "group = nuke.nodes.Group()\n"
        "nuke._this_node = group\n"
        "[call() for call, node_class in nuke.callbacks['onCreate']]\n"
        "print(sorted({'numpy', 'zmq', 'msgpack', 'OpenEXR', 'framebridge.protocol'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_connection_checks_run_off_the_main_thread(nuke, plate, server, tmp_path, monkeypatch, settle):
    """Finding 9: a dead server costs the reply timeout; in the main thread that freezes Nuke."""
    from framebridge.nuke_plugin.host import entry, nodes, send

    checked_in = []
    real_check = send.check_server

    def recording(client, op=None):
        checked_in.append(threading.current_thread() is threading.main_thread())
        return real_check(client, op)

    monkeypatch.setattr(send, "check_server", recording)
    monkeypatch.setattr(entry, "check_server", recording)
    nuke.GUI = True
    node = bridge(nuke, nodes, plate(frames=(1,)), server, tmp_path / "out")
    entry.test_connection(node)
    entry.send_node(node)
    assert nuke.executed == []  # the render waits for the check's answer
    settle()
    assert checked_in == [False, False]
    assert node["status"].value().startswith("done") and nuke.executed


def test_one_send_is_one_undo_step(nuke, plate, server, tmp_path, settle):
    from framebridge.nuke_plugin.host import entry, nodes

    nuke.GUI = True
    node = bridge(nuke, nodes, plate(frames=(1,)), server, tmp_path / "out")
    before = len(nuke.undo_steps)
    entry.send_node(node)
    settle()
    assert nuke.undo_steps[before:] == [["step FrameBridge Send", "create Read1"]]


def test_an_older_saved_node_without_the_new_knobs_still_opens_and_sends(nuke, plate, server, tmp_path, settle):
    from framebridge.nuke_plugin.host import callbacks, nodes

    nuke.GUI = True
    node = bridge(nuke, nodes, plate(frames=(1,)), server, tmp_path / "out")
    for name in ("show", "status", "view", "cond_lineart", "cond_lineart_weight"):
        node.removeKnob(node[name])
    for child in node.children:  # the first release's Group: Input -> Output
        if child.Class() in ("Switch",) or child.name() == "Result":
            nuke.delete(child)
    nuke._this_node = node
    callbacks.on_create()
    nuke._this_knob = node["op"]
    callbacks.on_knob_changed()
    nuke.press(node, "send")
    settle()
    reads = [read for read in nuke.allNodes("Read") if read.name() != "Plate1"]
    assert len(reads) == 1 and node.input(1) is None
    assert node["tile_color"].value() == 0x4C9A2AFF and node["label"].value().startswith("done")


def test_every_knob_has_a_tooltip_and_the_node_has_help_and_an_icon(nuke):
    from framebridge.nuke_plugin.core.knobs import BRIDGE_KNOBS
    from framebridge.nuke_plugin.host import nodes

    node = nodes.create_bridge_node()
    for spec in BRIDGE_KNOBS:
        if spec.kind not in ("tab", "text"):
            assert node[spec.name]._tooltip, spec.name
    assert "Send renders the input" in node["help"].value() and node["icon"].getText() == "FrameBridge.png"
