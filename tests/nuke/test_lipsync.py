"""The LipSync node: WAV reading, the request and curves (pure), and the node against a real server (fake nuke)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

# These tests synthesise speech and run the op: they need the server's audio packages (absent from a Nuke bundle).
soundfile = pytest.importorskip("soundfile")

from framebridge.nuke_plugin.core.lipsync import SHAPE_KNOBS, curves_from_results, lipsync_params, read_wav
from framebridge.protocol.errors import InvalidParams, MediaError
from framebridge.server.lipsync.espeak import synthesise
from framebridge.server.ops.base import InputFrame, JobContext
from framebridge.server.ops.lipsync import LipsyncOp

SENTENCE = "Maybe Bob paid for the map."


@pytest.fixture(scope="module")
def line_wav(tmp_path_factory):
    line = synthesise(SENTENCE)
    path = tmp_path_factory.mktemp("nuke_audio") / "line.wav"
    soundfile.write(str(path), line.samples, line.sample_rate, subtype="PCM_24")
    return path


@pytest.mark.parametrize("subtype, tolerance", [("PCM_U8", 1 / 100), ("PCM_16", 1e-4), ("PCM_24", 1e-6),
                                                ("PCM_32", 1e-6), ("FLOAT", 1e-7), ("DOUBLE", 1e-7)])
def test_read_wav_reads_every_common_sample_format_as_mono(tmp_path, subtype, tolerance):
    left = (0.5 * np.sin(np.linspace(0, 20, 1000))).astype(np.float32)
    path = tmp_path / "tone.wav"
    soundfile.write(str(path), np.stack([left, -left / 2], axis=1), 16000, subtype=subtype)
    samples, rate = read_wav(path)
    assert rate == 16000 and samples.dtype == np.float32
    np.testing.assert_allclose(samples, left / 4, atol=tolerance * 2)


def test_read_wav_refuses_what_is_not_a_wav(tmp_path):
    with pytest.raises(MediaError, match="no audio file"):
        read_wav(tmp_path / "none.wav")
    (tmp_path / "line.flac").write_bytes(b"fLaC" + bytes(40))
    with pytest.raises(MediaError, match="not a WAV"):
        read_wav(tmp_path / "line.flac")


def test_params_take_knobs_and_the_script_fps():
    values = {"start_frame": 1001, "offset": 0.5, "extended_shapes": "gx", "audio": "/a/line.wav", "transcript": " Hi ",
              "cue_format": "none", "cue_file": ""}
    params = lipsync_params(values, 48000, 25.0)
    assert params == {"sample_rate": 48000, "fps": 25.0, "start_frame": 1001, "offset": 0.5, "extended_shapes": "GX",
                      "sound_file": "/a/line.wav", "transcript": "Hi"}
    with pytest.raises(InvalidParams, match="cue file"):
        lipsync_params({**values, "cue_format": "json"}, 48000, 25.0)


def test_curves_step_per_shape_and_mouth_open_every_frame():
    metas = {1: {"shape": "X", "mouth_open": 0.0}, 2: {"shape": "D", "mouth_open": 0.8}, 3: {"shape": "D", "mouth_open": 1.0},
             4: {"shape": "A", "mouth_open": 0.1}}
    curves = curves_from_results(metas, [1, 2, 3, 4])
    assert curves["shape_D"] == [(1, 0.0), (2, 1.0), (4, 0.0)]
    assert curves["shape_A"] == [(1, 0.0), (4, 1.0)]
    assert curves["mouth_open"] == [(1, 0.0), (2, 0.8), (3, 1.0), (4, 0.1)]
    with pytest.raises(MediaError, match="no cue for frames"):
        curves_from_results(metas, [1, 5])


def expected_shapes(wav: Path, frames: list[int], start: int) -> dict[int, str]:
    samples, rate = read_wav(wav)
    op = LipsyncOp()
    params = {"sample_rate": rate, "fps": 24.0, "start_frame": start, "offset": 0.0, "extended_shapes": "GHX",
              "transcript": SENTENCE}
    plan = op.prepare(params, {}, frames, None, {"audio": samples})
    results = op.run(plan, (InputFrame(n, {}) for n in frames), JobContext("t", frames, {}, lambda: False))
    return {result.number: result.meta["shape"] for result in results}


def test_lipsync_node_gets_stepped_shape_curves_and_mouth_open_from_a_real_server(nuke, server, line_wav, tmp_path):
    from framebridge.nuke_plugin.host import lipsync

    node = lipsync.create_node()
    assert node.Class() == "Group" and lipsync.is_lipsync_node(node)
    node["audio"].setValue(str(line_wav))
    node["transcript"].setValue(SENTENCE)
    node["start_frame"].setValue(1001)
    node["connection_file"].setValue(str(server.connection_file))
    node["cue_format"].setValue("json")
    node["cue_file"].setValue(str(tmp_path / "cues" / "line.json"))
    summary = lipsync.run_node(node.name())
    assert "(aligned), frames 1001-" in summary and node["status"].value().startswith(summary)
    last = int(summary.rsplit("-", 1)[1])
    frames = list(range(1001, last + 1))
    expected = expected_shapes(line_wav, frames, 1001)
    for frame in frames:
        lit = [name[-1] for name in SHAPE_KNOBS if node[name].valueAt(frame + 0.5) == 1.0]
        assert lit == [expected[frame]], frame
    assert node["mouth_open"].isAnimated() and max(node["mouth_open"].valueAt(f) for f in frames) > 0.5
    cue_file = json.loads((tmp_path / "cues" / "line.json").read_text())
    assert cue_file["metadata"]["soundFile"] == str(line_wav)
    lipsync.run_node(node.name())
    assert [node["shape_A"].valueAt(f) for f in frames] == [1.0 if expected[f] == "A" else 0.0 for f in frames]


def test_generate_names_the_problem_in_the_status_and_a_message(nuke, tmp_path):
    from framebridge.nuke_plugin.host import lipsync

    node = lipsync.create_node()
    node["audio"].setValue(str(tmp_path / "missing.wav"))
    lipsync.generate(node)
    assert node["status"].value().startswith("error: no audio file")
    nuke.GUI = True
    lipsync.generate(node)
    assert nuke.messages and "no audio file" in nuke.messages[-1]


def test_the_menu_offers_the_lipsync_node(nuke):
    import runpy

    nuke.GUI = True
    runpy.run_path(str(Path(__file__).resolve().parents[2] / "nuke_plugin" / "menu.py"))
    nuke.menus["Nodes"].items["FrameBridge"].items["LipSync"]()
    assert any(node.name().startswith("LipSync") for node in nuke.allNodes())


def plate_node(nuke, astronaut, frames, faceless=()):
    """An image node of the astronaut (scene-linear RGBA) on ``frames``, flat grey on the ``faceless`` ones."""
    from framebridge.server.colour import display_to_linear

    linear = display_to_linear(astronaut.astype(np.float32) / 255.0)
    planes = {"rgba.red": linear[..., 0], "rgba.green": linear[..., 1], "rgba.blue": linear[..., 2],
              "rgba.alpha": np.ones(linear.shape[:2], np.float32)}
    grey = {name: np.full_like(plane, 0.2 if name != "rgba.alpha" else 1.0) for name, plane in planes.items()}
    return nuke.make_image_node("Plate1", {number: grey if number in faceless else planes for number in frames})


def plate_mode_node(nuke, server, line_wav, plate, output):
    from framebridge.nuke_plugin.host import lipsync

    node = lipsync.create_node(plate)
    for name, value in (("mode", "plate"), ("audio", str(line_wav)), ("transcript", SENTENCE), ("start_frame", 1001),
                        ("connection_file", str(server.connection_file)), ("output_folder", str(output))):
        node[name].setValue(value)
    return node


def test_plate_mode_places_the_lip_synced_plate_as_a_read_shown_by_the_node(nuke, server, line_wav, astronaut, tmp_path):
    from framebridge.protocol.exr import read_frame, read_layers

    plate = plate_node(nuke, astronaut, (1001, 1002, 1003, 1004), faceless=(1002,))
    node = plate_mode_node(nuke, server, line_wav, plate, tmp_path / "out")
    assert node.input(0) is plate and node["show"].value() == "input"
    nuke.press(node, "generate")
    status = node["status"].value()
    assert status.startswith("done: 4 lip-synced frames") and "no face found on frames 1002" in status, status
    read = node.input(1)
    assert read.Class() == "Read" and node["show"].value() == "result" and read["raw"].value() is True
    assert read["file"].getText().endswith("/out/v001/frame_####.exr") and (read.firstFrame(), read.lastFrame()) == (1001, 1004)
    assert set(read_layers(tmp_path / "out" / "v001" / "frame_1003.exr")) == {"", "mouth_matte"}
    sent = plate._pixels(1003)["rgba.red"]
    shown = node._pixels(1003)  # the node's output is now the lip-synced plate
    matte = shown["mouth_matte.Y"]
    assert matte.any() and np.array_equal(shown["rgba.red"][matte == 0], sent[matte == 0])
    moved = [number for number in (1001, 1003, 1004) if not np.array_equal(
        read_frame(tmp_path / "out" / "v001" / f"frame_{number}.exr")["beauty"][..., 0], plate._pixels(number)["rgba.red"])]
    assert moved  # the line's shapes move the mouth
    assert node["mouth_open"].isAnimated() and node["shape_X"].isAnimated()  # the cues came with the plate


def test_plate_mode_runs_off_the_main_thread_and_names_a_missing_plate(nuke, server, line_wav, astronaut, tmp_path, settle):
    from framebridge.nuke_plugin.host import lipsync

    nuke.GUI = True
    node = plate_mode_node(nuke, server, line_wav, None, tmp_path / "out")
    nuke.press(node, "generate")
    assert "needs the plate on input 0" in node["status"].value() and node["tile_color"].value() == 0xB22222FF
    node.setInput(0, plate_node(nuke, astronaut, (1001, 1002)))
    lipsync.generate(node)
    assert node["status"].value().startswith("sending 2 frames") and nuke.executed == []  # nothing rendered yet
    settle()
    assert node["status"].value().startswith("done: 2 lip-synced frames"), node["status"].value()
    assert nuke.progress_tasks[-1].name == "FrameBridge lipsync" and nuke.progress_tasks[-1].progress == 100
    assert node.input(1) is not None and nuke.messages == []


def test_a_lipsync_node_saved_before_plate_mode_still_generates_cues(nuke, tmp_path):
    from framebridge.nuke_plugin.core.marker import MARKER as BRIDGE_MARKER
    from framebridge.nuke_plugin.host import lipsync

    node = lipsync.create_node()
    for name in ("mode", "show", "backend", "output_folder", BRIDGE_MARKER):
        node.removeKnob(node[name])
    node["audio"].setValue(str(tmp_path / "missing.wav"))
    lipsync.generate(node)  # read as mode cues: the cue path's own error, not a missing knob
    assert node["status"].value().startswith("error: no audio file")
