"""The expression op through a real server: results, warnings in `done`, typed errors, and the server still serving."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.expression import linear
from framebridge.protocol.errors import InvalidParams
from framebridge.protocol.client import DoneEvent, ResultEvent


def _submit(server, frames, params=None, job_buffers=None):
    with server.client() as client:
        job = client.submit("expression", sorted(frames), frames, params={"cache": False, **(params or {})},
                            job_buffers=job_buffers)
        results, done = {}, None
        for event in job:
            if isinstance(event, ResultEvent):
                results[event.frame] = event
            elif isinstance(event, DoneEvent):
                done = event
    return results, done


def test_a_still_portrait_is_animated_and_a_faceless_frame_is_named_in_done(server, second_face, mouth_driver):
    driver, _ = mouth_driver
    frames = {1: {"driving": linear(driver[0])}, 2: {"driving": linear(driver[2])}}
    results, done = _submit(server, frames, {"regions": ["lips", "pose"]}, {"source": linear(second_face, alpha=1.0)})
    assert sorted(results) == [1, 2] and done.state == "completed"
    result = results[2]
    assert set(result.buffers) == {"beauty", "face_matte", "stmap"}
    assert result.buffers["beauty"].shape == (512, 512, 4) and result.buffers["stmap"].shape == (512, 512, 2)
    moved = np.array(result.meta["target_landmarks"]) - np.array(result.meta["source_landmarks"])
    assert moved[57, 1] > 3.0 and len(result.meta["driver_landmarks"]) == 68

    plate = {1: {"beauty": linear(np.full_like(second_face, 70)), "driving": linear(driver[0])}}
    results, done = _submit(server, plate)
    assert sorted(results) == [1] and "no face in frame 1" in done.warnings[1][0]


@pytest.mark.parametrize("params, job_buffers, message", [
    ({"driving_range": [1, 1], "driving_offset": 0}, None, "shorter than the target range"),
    ({"driving_range": [1, 5]}, None, "say how they pair"),
    ({"regions": "nose"}, None, "unknown regions"),
    ({"multipliers": {"pose": float("nan")}}, None, "finite"),
])
def test_bad_submits_are_typed_errors_and_the_server_keeps_serving(server, mouth_driver, params, job_buffers, message):
    driver, _ = mouth_driver
    frames = {n: {"driving": linear(driver[0])} for n in (1, 2)}
    with server.client() as client, pytest.raises(InvalidParams, match=message):
        client.submit("expression", [1, 2], frames, params=params, job_buffers=job_buffers)
    with server.client() as client:
        assert client.ping()


def test_a_source_and_a_per_frame_beauty_fail_every_frame_by_name(server, second_face, mouth_driver):
    driver, _ = mouth_driver
    frames = {1: {"beauty": linear(second_face), "driving": linear(driver[0])}}
    results, done = _submit(server, frames, {}, {"source": linear(second_face)})
    assert not results and isinstance(done.failed[1], InvalidParams)
    with server.client() as client:
        assert client.ping()


def test_an_unknown_backend_is_refused_with_the_ones_there_are(server, mouth_driver):
    driver, _ = mouth_driver
    with server.client() as client, pytest.raises(InvalidParams, match="no backend 'nonexistent'") as caught:
        client.submit("expression", [1], {1: {"driving": linear(driver[0])}}, backend="nonexistent")
    assert "cpu" in caught.value.details["allowed"]
