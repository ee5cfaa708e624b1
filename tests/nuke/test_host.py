"""The thin Nuke layer against a fake ``nuke`` module that follows the documented API (no Nuke here)."""

import importlib.util
import runpy
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from framebridge.nuke_plugin.core.knobs import ANIMATED_KNOBS, BRIDGE_KNOBS, VALUE_KNOBS
from framebridge.protocol.errors import FrameFailed, JobCancelled, MissingInput
from framebridge.protocol.exr import read_frame, read_info

PLUGIN = Path(__file__).resolve().parents[2] / "nuke_plugin"
HEIGHT, WIDTH = 16, 24


def load_fake_nuke():
    spec = importlib.util.spec_from_file_location("nuke", Path(__file__).with_name("fake_nuke.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def nuke(monkeypatch):
    """A fresh fake ``nuke`` in sys.modules, and the host modules imported against it."""
    fake = load_fake_nuke()
    monkeypatch.setitem(sys.modules, "nuke", fake)
    for name in [name for name in sys.modules if name.startswith("framebridge.nuke_plugin.host")]:
        monkeypatch.delitem(sys.modules, name)
    return fake


def planes(number, layers=("rgba", "depth", "forward", "backward")):
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    all_planes = {
        "rgba.red": (columns + number) / WIDTH, "rgba.green": rows / HEIGHT, "rgba.blue": np.full_like(rows, 0.5),
        "rgba.alpha": np.ones_like(rows), "depth.Z": 1.0 + rows, "forward.u": np.ones_like(rows),
        "forward.v": np.zeros_like(rows), "backward.u": -np.ones_like(rows), "backward.v": np.zeros_like(rows),
        "N.red": np.zeros_like(rows), "N.green": np.zeros_like(rows), "N.blue": np.ones_like(rows),
        "mask.a": np.zeros_like(rows),
    }
    return {name: plane for name, plane in all_planes.items() if name.split(".")[0] in layers}


def plate(nuke, name="Plate1", frames=(1, 2, 3), layers=("rgba", "depth", "forward", "backward")):
    node = nuke.make_image_node(name, {number: planes(number, layers) for number in frames})
    node.setXYpos(100, 200)
    return node


def test_bridge_node_has_every_knob_with_its_default(nuke):
    from framebridge.nuke_plugin.host import nodes

    source = plate(nuke)
    node = nodes.create_bridge_node("extract", source)
    assert node.Class() == "Group" and nodes.is_bridge_node(node) and not nodes.is_bridge_node(source)
    assert node.input(0) is source and (node.xpos(), node.ypos()) == (100, 260)
    assert [child.Class() for child in node.children] == ["Input", "Output"]
    for spec in BRIDGE_KNOBS:
        assert node.knob(spec.name) is not None, spec.name
    values = nodes.knob_values(node)
    assert set(values) == set(VALUE_KNOBS)
    assert values["op"] == "extract" and values["strength"] == 0.6 and values["seed"] == 0 and values["temporal"] is True
    assert values["backend"] == "" and values["range_mode"] == "input"
    assert not node["temporal_strength"].getFlag(nuke.STARTLINE) and node["op"].getFlag(nuke.STARTLINE)
    assert "entry.send_node(nuke.thisNode())" in node["send"].value()
    assert not node["prompt"].enabled() and node["normal_space"].enabled()


def test_animated_knobs_are_sampled_per_frame(nuke):
    from framebridge.nuke_plugin.host import nodes

    node = nodes.create_bridge_node("restyle", plate(nuke))
    node["strength"].setAnimated()
    node["strength"].setValueAt(0.2, 1)
    node["strength"].setValueAt(0.6, 3)
    sampled = nodes.sample_knobs(node, nodes.knob_values(node), [1, 2, 3])
    assert sampled["strength"] == pytest.approx({1: 0.2, 2: 0.4, 3: 0.6})
    assert sampled["seed"] == 0 and set(ANIMATED_KNOBS) == {"strength", "seed", "temporal_strength"}


def test_other_nodes_use_the_defaults_and_overrides(nuke):
    from framebridge.nuke_plugin.host import nodes

    source = plate(nuke)
    values = nodes.knob_values(source, {"prompt": "ink"})
    assert values["prompt"] == "ink" and values["op"] == "restyle"
    assert nodes.sample_knobs(source, values, [1, 2]) == values
    assert nodes.source_of(source) is source


def test_an_unconnected_bridge_node_names_what_to_do(nuke):
    from framebridge.nuke_plugin.host import nodes

    with pytest.raises(MissingInput, match="has no input"):
        nodes.source_of(nodes.create_bridge_node())


def test_capture_writes_only_the_needed_layers_and_deletes_its_nodes(nuke, tmp_path):
    from framebridge.nuke_plugin.core.layers import plan_layers
    from framebridge.nuke_plugin.core.paths import CaptureFolder
    from framebridge.nuke_plugin.host import nodes

    source = plate(nuke, layers=("rgba", "depth", "N", "mask"))
    plan = plan_layers("restyle", ["normal"], True, source.channels())
    assert plan.layers == ("rgba", "depth", "N")
    capture = CaptureFolder(tmp_path)
    nodes.render_capture(source, plan, [1, 2, 3], capture)
    assert nuke.executed == [("Write1", 1, 3, 1)]
    assert nuke.deleted == ["Write1", "Remove1"] and nuke.allNodes() == [source]
    channels = set(read_info(capture.path(2)).channels)
    assert channels == {"R", "G", "B", "A", "depth.Z", "N.red", "N.green", "N.blue"}
    frame = read_frame(capture.path(2))
    assert sorted(frame) == ["beauty", "depth", "normal"]
    np.testing.assert_allclose(frame["beauty"][..., 0], planes(2)["rgba.red"])


def test_capture_of_a_frame_list_executes_each_run(nuke, tmp_path):
    from framebridge.nuke_plugin.core.layers import plan_layers
    from framebridge.nuke_plugin.core.paths import CaptureFolder
    from framebridge.nuke_plugin.host import nodes

    source = plate(nuke, frames=(1, 2, 3, 4, 5), layers=("rgba",))
    nodes.render_capture(source, plan_layers("echo", [], False, source.channels()), [1, 2, 5], CaptureFolder(tmp_path))
    assert nuke.executed == [("Write1", 1, 2, 1), ("Write1", 5, 5, 1)]
    assert nuke.deleted == ["Write1"]


def test_read_node_gets_its_knobs_and_sits_beside_the_source(nuke, tmp_path):
    from framebridge.nuke_plugin.core.paths import read_knobs
    from framebridge.nuke_plugin.host import nodes

    source = plate(nuke)
    read = nodes.create_read(read_knobs(tmp_path, [1, 2], "restyle"), source)
    assert read.Class() == "Read" and (read.xpos(), read.ypos()) == (220, 200) and read.input(0) is None
    assert read["file"].value().endswith("/frame_####.exr")
    assert [read[name].value() for name in ("first", "last", "origfirst", "origlast")] == [1, 2, 1, 2]
    assert read["colorspace"].value() == "linear" and read["raw"].value() is False and read["on_error"].value() == "error"


def test_unknown_knobs_are_an_error_and_a_missing_colorspace_keeps_the_default(nuke):
    from framebridge.nuke_plugin.host import nodes
    from framebridge.protocol.errors import FrameBridgeError

    read = nuke.nodes.Read()
    nodes.set_knobs(read, {"colorspace": "ACES - ACEScg"})
    assert read["colorspace"].value() == "default"
    with pytest.raises(ValueError):
        nodes.set_knobs(read, {"on_error": "explode"})
    with pytest.raises(FrameBridgeError, match="no knob 'gamma'"):
        nodes.set_knobs(read, {"gamma": 2.2})


def test_headless_restyle_node_round_trip(nuke, server, tmp_path):
    from framebridge.nuke_plugin.host import entry

    plate(nuke, "Read1", frames=(1001, 1002, 1003))
    read = entry.restyle_node("Read1", 1001, 1002, str(tmp_path / "out"), connection_file=str(server.connection_file),
                              prompt="cartoon", extra_params='{"cache": false}')
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["frame_1001.exr", "frame_1002.exr"]
    assert [read[name].value() for name in ("first", "last", "origfirst", "origlast")] == [1001, 1002, 1001, 1002]
    assert read["file"].value() == f"{(tmp_path / 'out').resolve().as_posix()}/frame_####.exr"
    assert read_frame(tmp_path / "out" / "frame_1002.exr")["beauty"].shape == (HEIGHT, WIDTH, 4)
    assert nuke.messages == [] and not list(Path(tmp_path).glob("framebridge-nuke-*"))


def test_headless_extract_node_and_failures(nuke, server, tmp_path):
    from framebridge.nuke_plugin.host import entry

    plate(nuke, "Read1", frames=(1, 2))
    read = entry.extract_node("Read1", output_folder=str(tmp_path / "cond"), conditions=("depth", "canny"),
                              connection_file=str(server.connection_file))
    assert read["raw"].value() is True and read["last"].value() == 2
    assert {"control_depth.Y", "control_canny.Y"} <= set(read_info(tmp_path / "cond" / "frame_0001.exr").channels)
    with pytest.raises(FrameFailed, match="frame 2"):
        entry.run_node("Read1", "echo", output_folder=str(tmp_path / "echo"), extra_params='{"fail": [2]}',
                       connection_file=str(server.connection_file))
    assert list((tmp_path / "echo").iterdir()) == []
    with pytest.raises(MissingInput, match="no node named 'Nope'"):
        entry.run_node("Nope")


def test_gui_send_streams_in_a_thread_and_places_a_read(nuke, server, tmp_path):
    from framebridge.nuke_plugin.host import entry, nodes

    nuke.GUI = True
    node = nodes.create_bridge_node("restyle", plate(nuke, frames=(1, 2)))
    node["connection_file"].setValue(str(server.connection_file))
    node["output_folder"].setValue(str(tmp_path / "out"))
    node["extra_params"].setValue('{"cache": false}')
    entry.send_node(node)
    for thread in threading.enumerate():
        if thread.name == "FrameBridge":
            thread.join(60)
    reads = nuke.allNodes("Read")
    assert len(reads) == 2 and nuke.messages and "2 frames written" in nuke.messages[-1]
    assert (reads[-1].xpos(), reads[-1].ypos()) == (node.xpos() + 120, node.ypos())
    assert nuke.progress_tasks[0].name == "FrameBridge restyle" and nuke.progress_tasks[0].progress == 100


def test_gui_cancel_from_the_progress_task_leaves_no_files(nuke, server, tmp_path):
    from framebridge.nuke_plugin.host import entry, nodes

    nuke.GUI = True
    nuke.cancel_at_progress = 1
    node = nodes.create_bridge_node("echo", plate(nuke, frames=(1, 2, 3, 4)))
    for name, value in (("connection_file", str(server.connection_file)), ("output_folder", str(tmp_path / "out")),
                        ("extra_params", '{"delay": 0.3}')):
        node[name].setValue(value)
    entry.send_node(node)
    for thread in threading.enumerate():
        if thread.name == "FrameBridge":
            thread.join(60)
    assert list((tmp_path / "out").iterdir()) == []
    assert "cancelled" in nuke.messages[-1] and len(nuke.allNodes("Read")) == 1


def test_gui_errors_become_messages(nuke, tmp_path):
    from framebridge.nuke_plugin.host import entry, nodes

    nuke.GUI = True
    entry.restyle_selected()
    assert "no node is selected" in nuke.messages[-1]
    node = nodes.create_bridge_node("extract", plate(nuke, layers=("rgba",)))
    node["cond_depth"].setValue(True)
    entry.send_node(node)
    assert "depth condition needs one of the layers" in nuke.messages[-1]
    node["connection_file"].setValue(str(tmp_path / "missing.json"))
    entry.test_connection(node)
    assert "FrameBridge:" in nuke.messages[-1] and "missing.json" in nuke.messages[-1]


def test_test_connection_shows_the_server(nuke, server):
    from framebridge.nuke_plugin.host import entry, nodes

    node = nodes.create_bridge_node()
    node["connection_file"].setValue(str(server.connection_file))
    nuke.GUI = True
    entry.test_connection(node)
    assert nuke.messages[-1].startswith("FrameBridge 0.") and "restyle" in nuke.messages[-1]


def test_menu_items_create_or_send_bridge_nodes(nuke):
    from framebridge.nuke_plugin.host import entry

    nuke.GUI = True
    source = plate(nuke)
    nuke.select(source)
    entry.extract_selected()
    created = nuke.toNode("FrameBridge1")
    assert created.input(0) is source and created.panel_shown
    assert created["op"].value() == "extract"
    assert [created[f"cond_{name}"].value() for name in ("depth", "normal", "canny", "lineart")] == [True, False, True, True]
    entry.restyle_selected()
    assert nuke.toNode("FrameBridge2")["op"].value() == "restyle"
    nuke.select(created)
    created["connection_file"].setValue("/nonexistent/c.json")
    entry.restyle_selected()
    assert created["op"].value() == "restyle" and "FrameBridge:" in nuke.messages[-1]
    assert entry.new_node().input(0) is created


def test_callbacks_keep_knob_states_current(nuke):
    from framebridge.nuke_plugin.host import entry, nodes

    node = nodes.create_bridge_node("restyle")
    node["range_mode"].setValue("custom")
    nuke._this_node, nuke._this_knob = node, node["range_mode"]
    entry.on_knob_changed()
    assert node["frames"].enabled()
    node["temporal"].setValue(False)
    nuke._this_knob = node["prompt"]
    entry.on_knob_changed()
    assert node["temporal_strength"].enabled()
    entry.on_create()
    assert not node["temporal_strength"].enabled()
    node["temporal"].setValue(True)
    nuke._this_knob = nuke.Knob("showPanel")
    entry.on_knob_changed()
    assert node["temporal_strength"].enabled()


def test_init_registers_callbacks_and_adds_a_bundled_site_folder(nuke, monkeypatch, tmp_path):
    added = []
    monkeypatch.setattr("site.addsitedir", added.append)
    nuke.plugin_path[:] = [str(tmp_path / "other"), str(tmp_path / "plugin")]
    runpy.run_path(str(PLUGIN / "init.py"))
    assert [nodeClass for _, nodeClass in nuke.callbacks["onCreate"]] == ["Group"]
    assert nuke.callbacks["knobChanged"][0][0].__name__ == "on_knob_changed"
    assert added == [] and nuke.menus == {}
    (tmp_path / "plugin" / "site-packages" / "framebridge").mkdir(parents=True)
    runpy.run_path(str(PLUGIN / "init.py"))
    assert added == [str(tmp_path / "plugin" / "site-packages")]


def test_menu_builds_only_with_a_gui(nuke):
    runpy.run_path(str(PLUGIN / "menu.py"))
    assert nuke.menus == {}
    nuke.GUI = True
    runpy.run_path(str(PLUGIN / "menu.py"))
    for top in ("Nodes", "Nuke"):
        items = nuke.menus[top].items["FrameBridge"].items
        assert list(items) == ["Restyle Selected", "Extract Conditions", "FrameBridge Node", "Test Connection", "LipSync"]
        assert items["Restyle Selected"].__name__ == "restyle_selected"


def test_an_unreachable_server_fails_before_anything_is_rendered(nuke, tmp_path):
    from framebridge.nuke_plugin.host import entry
    from framebridge.protocol.connection import ConnectionInfo
    from framebridge.protocol.errors import ServerUnreachable

    ConnectionInfo("tcp://127.0.0.1:9", b"k" * 32).write(tmp_path / "dead.json")
    plate(nuke, "Read1")
    with pytest.raises(ServerUnreachable, match="no FrameBridge server answers") as caught:
        entry.restyle_node("Read1", output_folder=str(tmp_path / "out"), connection_file=str(tmp_path / "dead.json"),
                           address="tcp://127.0.0.1:9", timeout=0.3)
    assert "framebridge serve" in caught.value.fix
    assert nuke.executed == [] and not (tmp_path / "out").exists()


def test_an_unknown_knob_kind_is_an_error(nuke):
    from framebridge.nuke_plugin.core.knobs import KnobSpec
    from framebridge.nuke_plugin.host import nodes
    from framebridge.protocol.errors import FrameBridgeError

    with pytest.raises(FrameBridgeError, match="unknown knob kind 'slider'"):
        nodes.make_knob(KnobSpec("slider", "amount"))


def test_headless_send_button_prints_progress_and_places_a_read(nuke, server, tmp_path, capsys):
    from framebridge.nuke_plugin.host import entry, nodes

    node = nodes.create_bridge_node("echo", plate(nuke, frames=(1, 2)))
    node["connection_file"].setValue(str(server.connection_file))
    node["output_folder"].setValue(str(tmp_path / "out"))
    entry.send_node(node)
    output = capsys.readouterr().out
    assert "FrameBridge: published 2/2" in output and "2 frames written" in output
    assert len(nuke.allNodes("Read")) == 2 and nuke.messages == []
    node["extra_params"].setValue('{"fail": [1]}')
    entry.send_node(node)
    assert "frame 1:" in capsys.readouterr().err


def test_a_cancelled_render_sends_nothing_and_removes_the_capture(nuke, server, tmp_path, monkeypatch):
    from framebridge.nuke_plugin.core import paths
    from framebridge.nuke_plugin.host import entry, nodes

    def cancelled(*args):
        raise RuntimeError("Cancelled")

    monkeypatch.setattr(nuke, "execute", cancelled)
    monkeypatch.setattr(paths.tempfile, "tempdir", str(tmp_path))
    nuke.GUI = True
    node = nodes.create_bridge_node("echo", plate(nuke))
    node["connection_file"].setValue(str(server.connection_file))
    entry.send_node(node)
    assert "rendering the input stopped (Cancelled); nothing was sent" in nuke.messages[-1]
    assert list(tmp_path.iterdir()) == [] and nuke.deleted == ["Write1", "Remove1"]


def test_an_error_while_streaming_becomes_a_message(nuke, server, tmp_path, monkeypatch, capsys):
    from framebridge.nuke_plugin.host import entry, nodes
    from framebridge.protocol.errors import ServerUnreachable

    def lost(*args, **kwargs):
        raise ServerUnreachable("the server went away")

    nuke.GUI = True
    node = nodes.create_bridge_node("echo", plate(nuke))
    node["connection_file"].setValue(str(server.connection_file))
    node["output_folder"].setValue(str(tmp_path / "out"))
    monkeypatch.setattr(entry, "run_session", lost)
    entry.send_node(node)
    for thread in threading.enumerate():
        if thread.name == "FrameBridge":
            thread.join(60)
    assert nuke.messages[-1] == "FrameBridge: the server went away"
    assert len(nuke.allNodes("Read")) == 1
    nuke.GUI = False
    entry.send_node(node)
    assert "FrameBridge: the server went away" in capsys.readouterr().err
    assert len(nuke.allNodes("Read")) == 1 and not (tmp_path / "out").exists()


def test_a_disk_error_in_the_background_thread_becomes_a_message(nuke, server, tmp_path, monkeypatch):
    from framebridge.nuke_plugin.host import entry, nodes

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    nuke.GUI = True
    node = nodes.create_bridge_node("echo", plate(nuke))
    node["connection_file"].setValue(str(server.connection_file))
    monkeypatch.setattr(entry, "run_session", full)
    entry.send_node(node)
    for thread in threading.enumerate():
        if thread.name == "FrameBridge":
            thread.join(60)
    assert "No space left on device" in nuke.messages[-1] and "free space" in nuke.messages[-1]


def test_a_depth_condition_sends_the_depth_range_of_every_captured_frame(nuke, tmp_path, monkeypatch):
    from framebridge.nuke_plugin.host import entry
    from framebridge.nuke_plugin.core.session import SessionResult

    frames = {number: planes(number) for number in (1, 2)}
    frames[2]["depth.Z"] = frames[2]["depth.Z"].copy()
    frames[2]["depth.Z"][0, 0] = 0.25  # a nearer object appears on frame 2
    nuke.make_image_node("Read1", frames)
    sent = {}

    def record(client, op, frames, source, **options):
        sent.update(options)
        return SessionResult("cancelled")

    monkeypatch.setattr(entry, "check_server", lambda client, op: None)
    monkeypatch.setattr(entry, "connect", lambda settings: type("Closed", (), {"close": lambda self: None})())
    monkeypatch.setattr(entry, "run_session", record)
    with pytest.raises(JobCancelled):  # the stand-in session ends the job once it has seen what was sent
        entry.extract_node("Read1", 1, 2, str(tmp_path / "out"), connection_file=str(tmp_path / "unused.json"))
    assert sent["shot"]["depth_range"] == [0.25, float(HEIGHT)]
