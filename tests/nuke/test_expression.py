"""The FrameBridge Expression node: its request, tracks in Nuke's coordinates, and a send through a real server."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.nuke_plugin.core.expression import (
    CORNER_LANDMARKS,
    EXPRESSION_KNOBS,
    corner_tracks,
    expression_request,
    paired_source,
    to_nuke,
)
from framebridge.protocol.errors import InvalidParams

DEFAULTS = {spec.name: spec.default for spec in EXPRESSION_KNOBS if spec.kind not in ("tab", "text", "button")}


def test_the_request_names_ticked_regions_their_multipliers_and_the_pairing():
    values = {**DEFAULTS, "region_pose": False, "multiplier_lips": 1.5, "driving_offset": 10, "reference_frame": 12}
    request = expression_request(values, [1, 2, 3], 100, driver_first=11, driver_last=20)
    assert request.params["regions"] == ["expression", "eyes", "lips"]
    assert request.params["multipliers"]["lips"] == 1.5 and request.params["driving_range"] == [11, 20]
    assert request.driver_frames == (11, 12, 13) and request.reference_frame == 12


def test_a_face_point_is_flipped_to_the_servers_top_left_origin():
    values = {**DEFAULTS, "face": "point", "face_x": 30.5, "face_y": 90.5, "reference_frame": 1}
    assert expression_request(values, [1], 100, 1, 1).params["face"] == [30.0, 9.0]


@pytest.mark.parametrize("change, message", [
    ({"region_expression": False, "region_eyes": False, "region_lips": False, "region_pose": False}, "no region"),
    ({"multiplier_lips": float("nan")}, "finite"),
    ({"driving_offset": 5}, "lacks frames"),
])
def test_bad_knobs_are_typed_errors_before_anything_renders(change, message):
    with pytest.raises(InvalidParams, match=message):
        expression_request({**DEFAULTS, "reference_frame": 1, **change}, [1, 2, 3], 100, 1, 3)


def test_tracks_are_in_nukes_coordinates_and_skip_frames_without_a_face():
    landmarks = np.zeros((68, 2))
    landmarks[list(CORNER_LANDMARKS)] = [[10, 20], [50, 20], [45, 60], [15, 60]]
    metas = {1: {"face": True, "target_landmarks": landmarks.tolist()}, 2: {"face": False, "warnings": ["no face"]}}
    tracks = corner_tracks(metas, height=100)
    assert list(tracks) == [1]
    assert tracks[1] == [(10.5, 79.5), (50.5, 79.5), (45.5, 39.5), (15.5, 39.5)]
    assert to_nuke(np.array([[0.0, 99.0]]), 100).tolist() == [[0.5, 0.5]]  # the bottom-left pixel's centre


def test_paired_source_sends_driver_frame_n_plus_offset():
    plate = lambda number: {"beauty": np.full((2, 2, 3), number, np.float32)}
    driver = lambda number: {"beauty": np.full((2, 2, 3), number, np.float32)}
    frame = paired_source(plate, driver, 10)(3)
    assert frame["beauty"][0, 0, 0] == 3 and frame["driving"][0, 0, 0] == 13


def _image_node(nuke, name, images):
    from framebridge.server.colour import display_to_linear

    frames = {}
    for number, image in images.items():
        linear = display_to_linear(image.astype(np.float32) / 255.0)
        frames[number] = {"rgba.red": linear[..., 0], "rgba.green": linear[..., 1], "rgba.blue": linear[..., 2],
                          "rgba.alpha": np.ones(image.shape[:2], np.float32)}
    return nuke.make_image_node(name, frames)


def test_send_places_the_result_read_inside_and_a_corner_pin_beside(nuke, server, tmp_path, astronaut, mouth_driver):
    from framebridge.nuke_plugin.host import expression
    from framebridge.protocol.exr import read_layers

    driver_frames, _ = mouth_driver
    plate = _image_node(nuke, "Plate1", {1: astronaut, 2: astronaut})
    driver = _image_node(nuke, "Actor1", {1: driver_frames[0], 2: driver_frames[2]})
    node = expression.create_expression_node(plate, driver)
    assert node.input(0) is plate and node.input(1) is driver and node["reference_frame"].value() == 1
    node["connection_file"].setValue(str(server.connection_file))
    node["output_folder"].setValue(str(tmp_path / "out"))
    node["timeout"].setValue(60.0)  # the first capabilities call of a fresh server describes every backend
    pin = expression.send_expression(node)
    assert pin is not None and pin.Class() == "CornerPin2D"
    read = next(child for child in node.children if child.Class() == "Read")
    output = next(child for child in node.children if child.Class() == "Output")
    assert output.input(0) is read and read["raw"].value() is True
    assert set(read_layers(tmp_path / "out" / "frame_0002.exr")) == {"", "face_matte", "stmap"}
    assert pin["to1"].isAnimated()
    # to3 is the mouth's right corner: Nuke's y is up, so the face's mouth sits below its eyes in y.
    assert pin["to3"].valueAt(2, 1) < pin["to1"].valueAt(2, 1)
    assert abs(pin["to1"].valueAt(1, 0) - pin["from1"].value()[0]) < 1e-6


def test_send_without_a_driver_reports_a_typed_error(nuke, astronaut):
    from framebridge.nuke_plugin.host import expression

    messages = []
    nuke.message = messages.append
    nuke.GUI = True
    node = expression.create_expression_node(_image_node(nuke, "Plate1", {1: astronaut}))
    assert expression.send_expression(node) is None
    assert "needs a plate (input 0) and a driver (input 1)" in messages[0]


def test_a_gui_send_leaves_the_main_thread_free_and_places_the_result_later(nuke, server, tmp_path, astronaut,
                                                                             mouth_driver, settle, monkeypatch):
    import threading

    from framebridge.nuke_plugin.host import expression

    driver_frames, _ = mouth_driver
    nuke.GUI = True
    checked_in = []
    real_check = expression.check_server

    def recording(client, op=None):
        checked_in.append(threading.current_thread() is threading.main_thread())
        return real_check(client, op)

    monkeypatch.setattr(expression, "check_server", recording)
    node = expression.create_expression_node(_image_node(nuke, "Plate1", {1: astronaut, 2: astronaut}),
                                             _image_node(nuke, "Actor1", {1: driver_frames[0], 2: driver_frames[2]}))
    node["connection_file"].setValue(str(server.connection_file))
    node["output_folder"].setValue(str(tmp_path / "out"))
    node["timeout"].setValue(60.0)
    assert expression.send_expression(node) is None
    assert nuke.executed == [] and nuke.allNodes("CornerPin2D") == []  # the button returned before anything ran
    settle()
    assert checked_in == [False] and nuke.messages == []
    assert [task.name for task in nuke.progress_tasks] == ["FrameBridge expression"] and nuke.progress_tasks[0].progress == 100
    assert any(child.Class() == "Read" for child in node.children) and nuke.allNodes("CornerPin2D")[0]["to1"].isAnimated()


def test_a_gui_send_cancelled_from_the_progress_task_places_nothing(nuke, server, tmp_path, astronaut, settle):
    from framebridge.nuke_plugin.host import expression

    nuke.GUI = True
    nuke.cancel_at_progress = 0
    plate = _image_node(nuke, "Plate1", {1: astronaut, 2: astronaut})
    node = expression.create_expression_node(plate, _image_node(nuke, "Actor1", {1: astronaut, 2: astronaut}))
    node["connection_file"].setValue(str(server.connection_file))
    node["output_folder"].setValue(str(tmp_path / "out"))
    node["timeout"].setValue(60.0)
    expression.send_expression(node)
    settle()
    assert "cancelled" in nuke.messages[-1] and nuke.allNodes("CornerPin2D") == []
    assert not any(child.Class() == "Read" for child in node.children)


def test_the_menu_makes_an_expression_node_on_the_selection(nuke, astronaut):
    import runpy
    from pathlib import Path

    nuke.GUI = True
    plate = _image_node(nuke, "Plate1", {1: astronaut, 2: astronaut})
    driver = _image_node(nuke, "Actor1", {5: astronaut, 6: astronaut})
    nuke._selected[:] = [plate, driver]
    runpy.run_path(str(Path(__file__).resolve().parents[2] / "nuke_plugin" / "menu.py"))
    node = nuke.menus["Nodes"].items["FrameBridge"].items["FrameBridge Expression"]()
    assert node.input(0) is plate and node.input(1) is driver and node.panel_shown
    assert node["frames"].value() == "1-2" and node["reference_frame"].value() == 5
