"""The thin Nuke layer against a fake ``nuke`` module that follows the documented API (no Nuke here)."""

import runpy
from pathlib import Path

import numpy as np
import pytest

from framebridge.nuke_plugin.core.knobs import ANIMATED_KNOBS, BRIDGE_KNOBS, VALUE_KNOBS
from framebridge.protocol.errors import FrameFailed, JobCancelled, MissingInput
from framebridge.protocol.exr import read_frame, read_info

PLUGIN = Path(__file__).resolve().parents[2] / "nuke_plugin"
HEIGHT, WIDTH = 16, 24


def test_bridge_node_has_every_knob_with_its_default(nuke, plate):
    from framebridge.nuke_plugin.host import nodes

    source = plate()
    node = nodes.create_bridge_node("extract", source)
    assert node.Class() == "Group" and nodes.is_bridge_node(node) and not nodes.is_bridge_node(source)
    assert node.input(0) is source and (node.xpos(), node.ypos()) == (100, 260)
    assert [child.Class() for child in node.children] == ["Input", "Input", "Switch", "Output"]
    for spec in BRIDGE_KNOBS:
        assert node.knob(spec.name) is not None, spec.name
    values = nodes.knob_values(node)
    assert set(values) == set(VALUE_KNOBS)
    assert values["op"] == "extract" and values["strength"] == 0.6 and values["seed"] == 0 and values["temporal"] is True
    assert values["backend"] == "" and values["range_mode"] == "input"
    assert not node["temporal_strength"].getFlag(nuke.STARTLINE) and node["op"].getFlag(nuke.STARTLINE)
    assert "entry.send_node(nuke.thisNode())" in node["send"].value()
    assert not node["prompt"].enabled() and node["normal_space"].enabled()


def test_animated_knobs_are_sampled_per_frame(nuke, plate):
    from framebridge.nuke_plugin.host import nodes

    node = nodes.create_bridge_node("restyle", plate())
    node["strength"].setAnimated()
    node["strength"].setValueAt(0.2, 1)
    node["strength"].setValueAt(0.6, 3)
    sampled = nodes.sample_knobs(node, nodes.knob_values(node), [1, 2, 3])
    assert sampled["strength"] == pytest.approx({1: 0.2, 2: 0.4, 3: 0.6})
    assert sampled["seed"] == 0 and set(ANIMATED_KNOBS) == {"strength", "seed", "temporal_strength"}


def test_other_nodes_use_the_defaults_and_overrides(nuke, plate):
    from framebridge.nuke_plugin.host import nodes

    source = plate()
    values = nodes.knob_values(source, {"prompt": "ink"})
    assert values["prompt"] == "ink" and values["op"] == "restyle"
    assert nodes.sample_knobs(source, values, [1, 2]) == values
    assert nodes.source_of(source) is source


def test_an_unconnected_bridge_node_names_what_to_do(nuke):
    from framebridge.nuke_plugin.host import nodes

    with pytest.raises(MissingInput, match="has no input"):
        nodes.source_of(nodes.create_bridge_node())


def test_capture_writes_only_the_needed_layers_and_deletes_its_nodes(nuke, plate, tmp_path):
    from framebridge.nuke_plugin.core.layers import plan_layers
    from framebridge.nuke_plugin.core.paths import CaptureFolder
    from framebridge.nuke_plugin.host import nodes

    source = plate(layers=("rgba", "depth", "N", "mask"))
    plan = plan_layers("restyle", ["normal"], True, source.channels())
    assert plan.layers == ("rgba", "depth", "N")
    capture = CaptureFolder(tmp_path)
    nodes.render_capture(source, plan, [1, 2, 3], capture, "main")
    assert nuke.executed == [("Write1", 1, 3, 1)]
    assert nuke.deleted == ["Write1", "Remove1"] and nuke.allNodes() == [source]
    assert nuke.undo_steps == []  # the internal nodes leave nothing to undo
    channels = set(read_info(capture.path(2)).channels)
    assert channels == {"R", "G", "B", "A", "depth.Z", "N.red", "N.green", "N.blue"}
    frame = read_frame(capture.path(2))
    assert sorted(frame) == ["beauty", "depth", "normal"]
    np.testing.assert_allclose(frame["beauty"][..., 0], plate.planes(2)["rgba.red"])


def test_capture_of_a_frame_list_executes_each_run(nuke, plate, tmp_path):
    from framebridge.nuke_plugin.core.layers import plan_layers
    from framebridge.nuke_plugin.core.paths import CaptureFolder
    from framebridge.nuke_plugin.host import nodes

    source = plate(frames=(1, 2, 3, 4, 5), layers=("rgba",))
    nodes.render_capture(source, plan_layers("echo", [], False, source.channels()), [1, 2, 5], CaptureFolder(tmp_path), "main")
    assert nuke.executed == [("Write1", 1, 2, 1), ("Write1", 5, 5, 1)]
    assert nuke.deleted == ["Write1"]


def test_unknown_knobs_are_an_error(nuke):
    from framebridge.nuke_plugin.host import nodes
    from framebridge.protocol.errors import FrameBridgeError

    read = nuke.nodes.Read()
    with pytest.raises(ValueError):
        nodes.set_knobs(read, {"on_error": "explode"})
    with pytest.raises(FrameBridgeError, match="no knob 'gamma'"):
        nodes.set_knobs(read, {"gamma": 2.2})


def test_headless_restyle_node_round_trip(nuke, plate, server, tmp_path):
    from framebridge.nuke_plugin.host import entry

    plate("Read1", frames=(1001, 1002, 1003))
    read = entry.restyle_node("Read1", 1001, 1002, str(tmp_path / "out"), connection_file=str(server.connection_file),
                              prompt="cartoon", extra_params='{"cache": false}')
    version = tmp_path / "out" / "v001"
    assert sorted(path.name for path in version.iterdir()) == ["frame_1001.exr", "frame_1002.exr"]
    assert [read[name].value() for name in ("first", "last", "origfirst", "origlast")] == [1001, 1002, 1001, 1002]
    assert read["file"].getText() == f"{version.resolve().as_posix()}/frame_####.exr"
    assert read["file"].value() == f"{version.resolve().as_posix()}/frame_%04d.exr"
    assert read_frame(version / "frame_1002.exr")["beauty"].shape == (HEIGHT, WIDTH, 4)
    assert nuke.messages == [] and not list(Path(tmp_path).glob("framebridge-nuke-*"))


def test_headless_extract_node_and_failures(nuke, plate, server, tmp_path):
    from framebridge.nuke_plugin.host import entry

    plate("Read1", frames=(1, 2))
    read = entry.extract_node("Read1", output_folder=str(tmp_path / "cond"), conditions=("depth", "canny"),
                              connection_file=str(server.connection_file))
    assert read["raw"].value() is True and read["last"].value() == 2
    assert {"control_depth.Y", "control_canny.Y"} <= set(read_info(tmp_path / "cond" / "v001" / "frame_0001.exr").channels)
    with pytest.raises(FrameFailed, match="frame 2"):
        entry.run_node("Read1", "echo", output_folder=str(tmp_path / "echo"), extra_params='{"fail": [2]}',
                       connection_file=str(server.connection_file))
    assert [list(folder.iterdir()) for folder in (tmp_path / "echo").iterdir()] == [[]]
    with pytest.raises(MissingInput, match="no node named 'Nope'"):
        entry.run_node("Nope")


def test_gui_send_streams_in_a_thread_and_shows_the_result_on_the_node(nuke, plate, server, tmp_path, settle):
    from framebridge.nuke_plugin.host import entry, nodes

    nuke.GUI = True
    node = nodes.create_bridge_node("restyle", plate(frames=(1, 2)))
    node["connection_file"].setValue(str(server.connection_file))
    node["output_folder"].setValue(str(tmp_path / "out"))
    node["extra_params"].setValue('{"cache": false}')
    entry.send_node(node)
    assert nuke.allNodes("Read") == [node.input(0)]  # nothing placed before Nuke's event loop runs
    settle()
    reads = nuke.allNodes("Read")
    assert len(reads) == 2 and nuke.messages == []
    assert (reads[-1].xpos(), reads[-1].ypos()) == (node.xpos() + 120, node.ypos())
    assert node.input(1) is reads[-1] and node["show"].value() == "result" and node.node("ResultSwitch")["which"].value() == 1
    assert node["tile_color"].value() == 0x4C9A2AFF and "2 frames" in node["status"].value()
    assert nuke.progress_tasks[0].name == "FrameBridge restyle" and nuke.progress_tasks[0].progress == 100
    from framebridge.nuke_plugin.host import callbacks

    nuke.addKnobChanged(callbacks.on_knob_changed, nodeClass="Group")
    nuke.change_knob(node, "show", "input")
    assert node.node("ResultSwitch")["which"].value() == 0


def test_gui_cancel_from_the_progress_task_leaves_no_files(nuke, plate, server, tmp_path, settle):
    from framebridge.nuke_plugin.host import entry, nodes

    nuke.GUI = True
    nuke.cancel_at_progress = 1
    node = nodes.create_bridge_node("echo", plate(frames=(1, 2, 3, 4)))
    for name, value in (("connection_file", str(server.connection_file)), ("output_folder", str(tmp_path / "out")),
                        ("extra_params", '{"delay": 0.3}')):
        node[name].setValue(value)
    entry.send_node(node)
    settle()
    assert [list(folder.iterdir()) for folder in (tmp_path / "out").iterdir()] == [[]]
    assert "cancelled" in node["status"].value() and node["tile_color"].value() == 0xC08A2EFF
    assert len(nuke.allNodes("Read")) == 1 and nuke.messages == []


def test_gui_errors_show_on_the_node_not_in_popups(nuke, plate, tmp_path, settle):
    from framebridge.nuke_plugin.host import entry, nodes

    nuke.GUI = True
    entry.restyle_selected()
    assert "no node is selected" in nuke.messages[-1]  # no node to show it on
    node = nodes.create_bridge_node("extract", plate(layers=("rgba",)))
    node["cond_depth"].setValue(True)
    entry.send_node(node)
    assert "depth condition needs one of the layers" in node["status"].value()
    assert node["tile_color"].value() == 0xB22222FF and node["label"].value().startswith("failed")
    node["connection_file"].setValue(str(tmp_path / "missing.json"))
    entry.test_connection(node)
    settle()
    assert "missing.json" in node["status"].value() and len(nuke.messages) == 1


def test_test_connection_shows_the_server(nuke, server, settle):
    from framebridge.nuke_plugin.host import entry, nodes

    node = nodes.create_bridge_node()
    node["connection_file"].setValue(str(server.connection_file))
    nuke.GUI = True
    entry.test_connection(node)
    settle()
    assert node["status"].value().startswith("server: FrameBridge 0.") and "restyle" in node["status"].value()


def test_menu_items_create_or_send_bridge_nodes(nuke, plate, settle):
    from framebridge.nuke_plugin.host import entry

    nuke.GUI = True
    source = plate()
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
    settle()
    assert created["op"].value() == "restyle" and "c.json" in created["status"].value()
    assert entry.new_node().input(0) is created


def test_callbacks_keep_knob_states_current(nuke):
    from framebridge.nuke_plugin.host import callbacks, nodes

    nuke.GUI = True
    node = nodes.create_bridge_node("restyle")
    node["range_mode"].setValue("custom")
    nuke._this_node, nuke._this_knob = node, node["range_mode"]
    callbacks.on_knob_changed()
    assert node["frames"].enabled()
    node["temporal"].setValue(False)
    nuke._this_knob = node["prompt"]
    callbacks.on_knob_changed()
    assert node["temporal_strength"].enabled()
    callbacks.on_create()
    assert not node["temporal_strength"].enabled()
    node["temporal"].setValue(True)
    nuke._this_knob = nuke.Knob("showPanel")
    callbacks.on_knob_changed()
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
        assert list(items) == ["Restyle Selected", "Extract Conditions", "FrameBridge Node", "FrameBridge Expression",
                               "Test Connection", "LipSync", "FrameBridge Propagate"]
        assert items["Restyle Selected"].__name__ == "restyle_selected"
    assert nuke.menus["Nodes"].icons["FrameBridge"] == "FrameBridge.png" and (PLUGIN / "FrameBridge.png").is_file()


def test_an_unreachable_server_fails_before_anything_is_rendered(nuke, plate, tmp_path):
    from framebridge.nuke_plugin.host import entry
    from framebridge.protocol.connection import ConnectionInfo
    from framebridge.protocol.errors import ServerUnreachable

    ConnectionInfo("tcp://127.0.0.1:9", b"k" * 32).write(tmp_path / "dead.json")
    plate("Read1")
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


def test_headless_send_button_prints_progress_and_places_a_read(nuke, plate, server, tmp_path, capsys):
    from framebridge.nuke_plugin.host import nodes

    node = nodes.create_bridge_node("echo", plate(frames=(1, 2)))
    node["connection_file"].setValue(str(server.connection_file))
    node["output_folder"].setValue(str(tmp_path / "out"))
    nuke.press(node, "send")
    output = capsys.readouterr().out
    assert "FrameBridge: published 2/2" in output and "2 frames in" in output
    assert len(nuke.allNodes("Read")) == 2 and nuke.messages == []
    node["extra_params"].setValue('{"fail": [1]}')
    nuke.press(node, "send")
    assert "frame 1:" in capsys.readouterr().err and "frame 1:" in node["status"].value()


def test_a_cancelled_render_sends_nothing_and_removes_the_capture(nuke, plate, server, tmp_path, monkeypatch, settle):
    from framebridge.nuke_plugin.core import paths
    from framebridge.nuke_plugin.host import entry, nodes

    def cancelled(*args):
        raise RuntimeError("Cancelled")

    monkeypatch.setattr(nuke, "execute", cancelled)
    monkeypatch.setattr(paths.tempfile, "tempdir", str(tmp_path))
    nuke.GUI = True
    node = nodes.create_bridge_node("echo", plate())
    node["connection_file"].setValue(str(server.connection_file))
    entry.send_node(node)
    settle()
    assert "rendering the input stopped (Cancelled); nothing was sent" in node["status"].value()
    assert list(tmp_path.iterdir()) == [] and nuke.deleted == ["Write1", "Remove1"]


def test_an_error_while_streaming_shows_on_the_node(nuke, plate, server, tmp_path, monkeypatch, capsys, settle):
    from framebridge.nuke_plugin.host import entry, nodes, send
    from framebridge.protocol.errors import ServerUnreachable

    def lost(*args, **kwargs):
        raise ServerUnreachable("the server went away")

    nuke.GUI = True
    node = nodes.create_bridge_node("echo", plate())
    node["connection_file"].setValue(str(server.connection_file))
    node["output_folder"].setValue(str(tmp_path / "out"))
    monkeypatch.setattr(send, "run_session", lost)
    entry.send_node(node)
    settle()
    assert node["status"].value() == "failed: the server went away"
    assert len(nuke.allNodes("Read")) == 1
    nuke.GUI = False
    entry.send_node(node)
    assert "FrameBridge: failed: the server went away" in capsys.readouterr().err
    assert len(nuke.allNodes("Read")) == 1 and not (tmp_path / "out").exists()


def test_a_disk_error_in_the_background_thread_shows_on_the_node(nuke, plate, server, tmp_path, monkeypatch, settle):
    from framebridge.nuke_plugin.host import entry, nodes, send

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    nuke.GUI = True
    node = nodes.create_bridge_node("echo", plate())
    node["connection_file"].setValue(str(server.connection_file))
    monkeypatch.setattr(send, "run_session", full)
    entry.send_node(node)
    settle()
    assert "No space left on device" in node["status"].value()


def test_a_depth_condition_sends_the_depth_range_of_every_captured_frame(nuke, plate, tmp_path, monkeypatch):
    from framebridge.nuke_plugin.core.session import SessionResult
    from framebridge.nuke_plugin.host import entry, send

    frames = {number: plate.planes(number) for number in (1, 2)}
    frames[2]["depth.Z"] = frames[2]["depth.Z"].copy()
    frames[2]["depth.Z"][0, 0] = 0.25  # a nearer object appears on frame 2
    nuke.make_image_node("Read1", frames)
    sent = {}

    def record(client, op, frames, source, **options):
        sent.update(options)
        return SessionResult("cancelled")

    monkeypatch.setattr(send, "check_server", lambda client, op: None)
    monkeypatch.setattr(send, "connect", lambda settings: type("Closed", (), {"close": lambda self: None})())
    monkeypatch.setattr(send, "run_session", record)
    with pytest.raises(JobCancelled):  # the stand-in session ends the job once it has seen what was sent
        entry.extract_node("Read1", 1, 2, str(tmp_path / "out"), connection_file=str(tmp_path / "unused.json"))
    assert sent["shot"]["depth_range"] == [0.25, float(HEIGHT)]
