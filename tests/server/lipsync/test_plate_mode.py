"""The lipsync op's plate mode end to end: in process, from the command line, and on a real server with a tiny Wav2Lip."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from framebridge.protocol import exr
from framebridge.protocol.client import DoneEvent, ResultEvent
from framebridge.protocol.errors import InvalidParams, MissingInput, ModelNotFound, NonFiniteValues
from framebridge.server.cli import main
from framebridge.server.colour import display_to_linear
from framebridge.server.launch import spawn_server
from framebridge.server.lipsync.espeak import synthesise
from framebridge.server.ops.base import FrameFailure, InputFrame, JobContext, OutputFrame
from framebridge.server.ops.lipsync import LipsyncOp
from fixtures.lipsync import save_official_checkpoint

SENTENCE = "Bob opened a map."


@pytest.fixture(scope="module")
def line():
    return synthesise(SENTENCE)


@pytest.fixture(scope="module")
def plate_rgba(astronaut) -> np.ndarray:
    """The astronaut as a scene-linear RGBA plate, with a little light above 1 and alpha below 1 in one corner."""
    rgba = np.ones((512, 512, 4), np.float32)
    rgba[..., :3] = display_to_linear(astronaut.astype(np.float32) / 255.0)
    rgba[:40, :40, :3] = 2.5
    rgba[460:, 460:, 3] = 0.5
    rgba[460:, 460:, :3] *= 0.5
    return rgba


def faceless(shape) -> np.ndarray:
    blank = np.full(shape, 0.2, np.float32)
    blank[..., 3] = 1.0
    return blank


def run_in_process(plate_rgba, line, frames, backend=None, **params):
    op = LipsyncOp()
    buffers = {"audio": line.samples}
    params = {"mode": "plate", "sample_rate": line.sample_rate, "fps": 24, "start_frame": frames[0], **params}
    plan = op.prepare(params, {}, frames, backend, buffers)
    inputs = [InputFrame(number, {"beauty": faceless(plate_rgba.shape) if number == frames[1] else plate_rgba})
              for number in frames]
    context = JobContext("test", list(frames), {}, lambda: False, job_buffers=buffers)
    return op, plan, {item.number: item for item in op.run(plan, iter(inputs), context)}


def test_plate_mode_lip_syncs_faces_and_names_faceless_frames(plate_rgba, line):
    frames = [1001, 1002, 1003, 1004, 1005, 1006]
    op, plan, results = run_in_process(plate_rgba, line, frames)
    assert op.backend_name(plan) == "cpu"
    assert sorted(results) == frames and all(isinstance(item, OutputFrame) for item in results.values())
    assert "cues" in results[1001].meta and "cues" not in results[1003].meta
    blank = results[1002]
    assert blank.meta["face_found"] is False and "no face found in frame 1002" in blank.meta["warnings"][0]
    assert np.array_equal(blank.buffers["beauty"], faceless(plate_rgba.shape))
    for number in (1001, 1003, 1004, 1005, 1006):
        item = results[number]
        assert item.meta["face_found"] is True and item.meta["shape"] in "ABCDEFGHX"
        beauty, matte = item.buffers["beauty"], item.buffers["mouth_matte"]
        assert beauty.shape == plate_rgba.shape and matte.shape == (512, 512)
        outside = matte == 0
        assert np.array_equal(beauty[outside], plate_rgba[outside])
        assert np.array_equal(beauty[..., 3], plate_rgba[..., 3])
    changed = [number for number in (1003, 1004, 1005, 1006)
               if not np.array_equal(results[number].buffers["beauty"], plate_rgba)]
    assert changed  # the line's shapes move the mouth


def test_a_frame_without_its_plate_fails_by_name_and_the_rest_go_on(plate_rgba, line):
    op = LipsyncOp()
    buffers = {"audio": line.samples}
    plan = op.prepare({"mode": "plate", "sample_rate": line.sample_rate, "fps": 24}, {}, [1, 2, 3], None, buffers)
    inputs = [InputFrame(1, {"beauty": plate_rgba}), InputFrame(2, {}),
              InputFrame(3, {"beauty": np.full((64, 64, 4), np.nan, np.float32)})]
    results = list(op.run(plan, iter(inputs), JobContext("test", [1, 2, 3], {}, lambda: False, job_buffers=buffers)))
    assert [item.number for item in results] == [1, 2, 3]
    assert isinstance(results[0], OutputFrame) and "cues" in results[0].meta
    assert isinstance(results[1], FrameFailure) and isinstance(results[1].error, MissingInput)
    assert isinstance(results[2], FrameFailure) and isinstance(results[2].error, NonFiniteValues)


def test_plate_mode_refuses_unknown_backends_before_any_frame(plate_rgba, line):
    with pytest.raises(InvalidParams, match="no backend 'latentsync'"):
        run_in_process(plate_rgba, line, [1, 2], backend="latentsync")
    with pytest.raises(InvalidParams, match="cues have no backend"):
        LipsyncOp().prepare({"sample_rate": 16000, "fps": 24}, {}, [1], "wav2lip", {"audio": line.samples})


def test_command_line_lip_syncs_an_exr_plate(tmp_path, plate_rgba, line, capsys):
    wav = tmp_path / "line.wav"
    soundfile.write(str(wav), line.samples, line.sample_rate)
    (tmp_path / "plate").mkdir()
    for number in (1001, 1002, 1003):
        beauty = faceless(plate_rgba.shape) if number == 1002 else plate_rgba
        exr.write_exr(tmp_path / "plate" / f"frame_{number:04d}.exr", {"beauty": beauty})
    code = main(["run", "lipsync", "--audio", str(wav), "--fps", "24", "--start", "1001",
                 "--input", str(tmp_path / "plate" / "frame_####.exr"),
                 "--output", str(tmp_path / "out" / "frame_####.exr"), "--cues", str(tmp_path / "out" / "line.json")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "lipsync plate: 3/3 frames" in captured.out and "line.json" in captured.out
    assert "no face (passed through unchanged): frames 1002" in captured.err
    layers = exr.read_layers(tmp_path / "out" / "frame_1001.exr")
    assert set(layers) == {"", "mouth_matte"}  # RGBA and the matte as a layer of its own
    outside = layers["mouth_matte"] == 0
    assert np.array_equal(layers[""][outside], plate_rgba[outside])
    assert layers["mouth_matte"].max() > 0.99
    assert (tmp_path / "out" / "line.json").is_file()


@pytest.fixture(scope="module")
def wav2lip_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("wav2lip")
    save_official_checkpoint(root / "models" / "wav2lip_gan.pth", seed=11)
    config = root / "models.toml"
    config.write_text('[lipsync.wav2lip]\ncheckpoint = "./models/wav2lip_gan.pth"\n', encoding="utf-8")
    with spawn_server(root / "server", "--models-config", str(config),
                      env={"FRAMEBRIDGE_CACHE_DIR": str(root / "cache")}) as running:
        yield running


@pytest.mark.slow
def test_a_plate_runs_through_a_real_server_with_a_tiny_wav2lip(wav2lip_server, plate_rgba, line):
    frames = [1, 2, 3, 4]
    with wav2lip_server.client() as client:
        job = client.submit("lipsync", frames,
                            lambda number: {"beauty": faceless(plate_rgba.shape) if number == 3 else plate_rgba},
                            params={"mode": "plate", "sample_rate": line.sample_rate, "fps": 25}, backend="wav2lip",
                            job_buffers={"audio": line.samples})
        events = list(job)
        assert client.ping()["server_version"]
    results = {event.frame: event for event in events if isinstance(event, ResultEvent)}
    done = next(event for event in events if isinstance(event, DoneEvent))
    assert sorted(results) == frames and done.error is None
    assert results[3].meta["face_found"] is False and "no face found in frame 3" in done.warnings[3][0]
    for number in (1, 2, 4):
        beauty, matte = results[number].buffers["beauty"], results[number].buffers["mouth_matte"]
        assert results[number].meta["face_found"] is True
        outside = matte == 0
        assert np.array_equal(beauty[outside], plate_rgba[outside])
        assert np.abs(beauty[~outside] - plate_rgba[~outside]).max() > 0.01


def test_describe_says_which_plate_backends_can_run(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMEBRIDGE_MODELS", str(tmp_path / "models.toml"))
    (tmp_path / "models.toml").write_text("", encoding="utf-8")
    description = LipsyncOp().describe()
    assert {"cpu", "wav2lip"} <= set(description["backends"])
    assert description["backends"]["cpu"]["available"]
    assert not description["backends"]["wav2lip"]["available"]
    assert "lipsync.wav2lip.checkpoint" in description["backends"]["wav2lip"]["missing"][0]
    save_official_checkpoint(tmp_path / "wav2lip.pth", seed=3)
    (tmp_path / "models.toml").write_text('[lipsync.wav2lip]\ncheckpoint = "wav2lip.pth"\n', encoding="utf-8")
    assert LipsyncOp().describe()["backends"]["wav2lip"]["available"]


def test_wav2lip_without_a_checkpoint_is_a_typed_error_and_the_server_keeps_serving(server, plate_rgba, line):
    with server.client() as client:
        with pytest.raises(ModelNotFound, match="lipsync.wav2lip"):
            client.submit("lipsync", [1], lambda number: {"beauty": plate_rgba},
                          params={"mode": "plate", "sample_rate": line.sample_rate, "fps": 25}, backend="wav2lip",
                          job_buffers={"audio": line.samples})
        assert client.ping()["server_version"]
