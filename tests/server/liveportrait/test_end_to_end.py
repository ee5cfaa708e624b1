"""The ``expression`` op on the ``liveportrait`` backend through a real server, on tiny random weights."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from framebridge.protocol.client import ResultEvent
from framebridge.protocol.errors import ModelNotFound
from framebridge.server.colour import display_to_linear
from framebridge.server.launch import spawn_server

pytest.importorskip("torch")

FRAMES = [1, 2, 3]


@pytest.fixture(scope="module")
def liveportrait_server(tiny_liveportrait, tmp_path_factory):
    """A real `framebridge serve` whose models config names the tiny LivePortrait release."""
    folder = tmp_path_factory.mktemp("liveportrait-server")
    running = spawn_server(folder, env={"FRAMEBRIDGE_MODELS": str(tiny_liveportrait.config_file), "FRAMEBRIDGE_CACHE_DIR": str(folder / "cache")})
    yield running
    running.stop()


def linear(image: np.ndarray, alpha: float | None = None) -> np.ndarray:
    rgb = display_to_linear(image.astype(np.float32) / 255)
    if alpha is None:
        return rgb
    return np.concatenate([rgb * alpha, np.full(rgb.shape[:2] + (1,), alpha, np.float32)], axis=2)


def turning_driver(face: np.ndarray, degrees: float) -> np.ndarray:
    """The driver's face turned in the picture by ``degrees`` about its middle."""
    matrix = cv2.getRotationMatrix2D((250.0, 170.0), degrees, 1.0)
    return cv2.warpAffine(face, matrix, face.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def run(client, frames, params, job_buffers=None):
    """Submit ``expression`` on the liveportrait backend; the outcome and each frame's result meta."""
    metas: dict[int, dict] = {}

    def keep(event) -> None:
        if isinstance(event, ResultEvent):
            metas[event.frame] = event.meta

    job = client.submit("expression", FRAMES, frames, params=params, backend="liveportrait", job_buffers=job_buffers)
    return job.wait(on_event=keep, timeout=900), metas


@pytest.mark.slow
def test_expression_op_animates_a_plate_with_liveportrait_through_a_server(liveportrait_server, astronaut, second_face):
    frames = {number: {"beauty": linear(astronaut, alpha=1.0), "driving": linear(turning_driver(second_face, 3.0 * index))}
              for index, number in enumerate(FRAMES)}
    with liveportrait_server.client() as client:
        outcome, first_meta = run(client, frames, {"regions": ["all"], "cache": True})
        again, again_meta = run(client, frames, {"regions": ["all"], "cache": True})
    assert outcome.state == "completed" and not outcome.failed and sorted(outcome.results) == FRAMES
    for number in FRAMES:
        result, sent = outcome.results[number], frames[number]["beauty"]
        assert result["beauty"].shape == sent.shape and result["face_matte"].shape == sent.shape[:2] and result["stmap"].shape == sent.shape[:2] + (2,)
        outside = result["face_matte"] == 0
        assert np.array_equal(result["beauty"][outside], sent[outside])
        assert np.array_equal(result["beauty"][..., 3], sent[..., 3])
        assert 0 < outside.mean() < 1 and not np.array_equal(result["beauty"], sent)
        assert len(first_meta[number]["target_landmarks"]) == 68 and len(first_meta[number]["driver_landmarks"]) == 68
        assert result["beauty"].tobytes() == again.results[number]["beauty"].tobytes()
        assert again_meta[number]["cache"] == "hit"


@pytest.mark.slow
def test_expression_op_animates_a_still_portrait_into_a_clip(liveportrait_server, astronaut, second_face):
    frames = {number: {"driving": linear(turning_driver(second_face, 2.0 * index))} for index, number in enumerate(FRAMES)}
    portrait = linear(astronaut, alpha=1.0)
    with liveportrait_server.client() as client:
        outcome, _ = run(client, frames, {"regions": ["expression", "pose"], "multipliers": {"pose": 0.5}, "cache": False}, {"source": portrait})
    assert outcome.state == "completed" and not outcome.failed and sorted(outcome.results) == FRAMES
    for number in FRAMES:
        assert outcome.results[number]["beauty"].shape == portrait.shape


def test_a_missing_checkpoint_is_refused_by_name_and_the_server_keeps_serving(tiny_liveportrait, tmp_path, astronaut, second_face):
    (tmp_path / "liveportrait").mkdir()
    (tmp_path / "models.toml").write_text('[expression]\nliveportrait = "./liveportrait"\n', encoding="utf-8")
    frames = {1: {"beauty": linear(astronaut, alpha=1.0), "driving": linear(second_face)}}
    with spawn_server(tmp_path / "server", env={"FRAMEBRIDGE_MODELS": str(tmp_path / "models.toml")}) as running, running.client() as client:
        with pytest.raises(ModelNotFound) as caught:
            client.submit("expression", [1], frames, params={}, backend="liveportrait").wait(timeout=120)
        assert "base_models/" in caught.value.message and str(tmp_path / "liveportrait") in caught.value.fix
        assert client.ping()["protocol_version"]
