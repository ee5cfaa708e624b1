"""The lipsync op through a real server: a synthesised line in, per-frame shapes, weights and the cue track out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from framebridge.protocol.client import ResultEvent
from framebridge.protocol.errors import AudioError, InvalidParams, MissingInput, NonFiniteValues, ShapeMismatch
from framebridge.server.lipsync.audio import AudioTrack, FrameClock
from framebridge.server.lipsync.espeak import synthesise
from framebridge.server.lipsync.phones import recognise
from framebridge.server.lipsync.rules import animate, frame_shapes
from framebridge.server.ops.lipsync import LipsyncOp

SENTENCE = "Maybe Bob paid for the map."


@pytest.fixture(scope="module")
def line():
    return synthesise(SENTENCE)


def submit(client, frames, audio, **params):
    params.setdefault("sample_rate", 22050)
    return client.submit("lipsync", frames, lambda number: {}, params=params, job_buffers={"audio": audio})


def test_cues_for_every_frame_come_back_through_a_real_server(server, line):
    clock = FrameClock(24, 1001)
    frames = clock.frames_for(len(line.samples) / line.sample_rate) + [1080, 1081]
    with server.client() as client:
        job = submit(client, frames, line.samples, transcript=SENTENCE, fps=24, start_frame=1001, format="json",
                     sound_file="/shots/sq010/line.wav")
        results = {event.frame: event for event in job if isinstance(event, ResultEvent)}
    assert sorted(results) == frames
    first = results[frames[0]].meta
    assert first["method"] == "aligned" and first["cues"][0][0] == 0
    assert any("later frames hold" in note for note in first["notes"])
    cue_file = json.loads(first["cue_file"])
    assert cue_file["metadata"] == {"soundFile": "/shots/sq010/line.wav", "duration": first["duration"] / 100}
    assert [cue["value"] for cue in cue_file["mouthCues"]] == [cue[2] for cue in first["cues"]]
    track = AudioTrack(line.samples, line.sample_rate)
    expected = frame_shapes(animate(recognise(track, SENTENCE).phones, track.duration), clock, frames)
    assert [results[n].meta["shape"] for n in frames] == expected
    for event in results.values():
        weights = event.buffers["mouth_weights"]
        assert weights.shape == (9,) and abs(float(weights.sum()) - 1.0) < 1e-5
        assert 0.0 <= event.meta["mouth_open"] <= 1.0
    assert results[1081].meta["shape"] == "X" and "A" in expected


def test_interleaved_stereo_is_taken_when_declared(server, line):
    stereo = np.repeat(line.samples[:22050], 2)
    with server.client() as client:
        outcome = submit(client, [1, 2, 3], stereo, channels=2, fps=24).wait(timeout=60)
    assert outcome.state == "completed" and sorted(outcome.results) == [1, 2, 3]


@pytest.mark.parametrize("audio, params, error, message", [
    (np.array([0.0, np.nan] * 100, np.float32), {}, NonFiniteValues, "NaN"),
    (np.zeros(0, np.float32), {}, AudioError, "empty"),
    (np.zeros(1000, np.float32), {"sample_rate": 0}, InvalidParams, "sample_rate"),
    (np.zeros(1000, np.float32), {"sample_rate": 3_000_000}, InvalidParams, "sample_rate"),
    (np.zeros(4000 * 7200, np.float32), {"sample_rate": 4000}, AudioError, "limit is 30 minutes"),
    (np.zeros(1000, np.float32), {"format": "csv"}, InvalidParams, "unknown cue format"),
    (np.zeros(1000, np.float32), {"transcript": ["not", "text"]}, InvalidParams, "transcript must be text"),
    (np.zeros((1000, 2), np.float32), {"channels": 1}, ShapeMismatch, "mono"),
    (np.zeros(1000, np.float32), {"mode": "video"}, InvalidParams, "unknown lipsync mode"),
])
def test_bad_input_is_a_typed_error_and_the_server_keeps_serving(server, audio, params, error, message):
    with server.client() as client:
        with pytest.raises(error, match=message):
            submit(client, [1], audio, fps=24, **params)
        assert client.ping()["server_version"]


def test_a_submit_without_audio_names_the_buffer(server):
    with server.client() as client, pytest.raises(MissingInput, match="'audio'"):
        client.submit("lipsync", [1], {}, params={"sample_rate": 16000, "fps": 24})


def test_fps_comes_from_the_shot_when_params_lack_it(line):
    plan = LipsyncOp().prepare({"sample_rate": 22050}, {"fps": 25}, [7, 8], None, {"audio": line.samples})
    assert plan.clock.fps == 25 and plan.clock.start_frame == 7
    with pytest.raises(InvalidParams, match="fps"):
        LipsyncOp().prepare({"sample_rate": 22050}, {}, [1], None, {"audio": line.samples})
    with pytest.raises(InvalidParams, match="transcript must be text, not bool"):
        LipsyncOp().prepare({"sample_rate": 22050, "fps": 24, "transcript": True}, {}, [1], None, {"audio": line.samples})
    assert LipsyncOp().prepare({"sample_rate": 22050, "fps": 24, "transcript": None}, {}, [1], None,
                               {"audio": line.samples}).transcript is None
    with pytest.raises(InvalidParams, match="24..100"):
        LipsyncOp().prepare({"sample_rate": 22050, "fps": 12, "format": "dat"}, {}, [1], None, {"audio": line.samples})
