"""The diffusers restyle backend on tiny random-weight models loaded through the models config."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fixtures.models import LORA_NAME, LORA_WEIGHT, TinyModels
from framebridge.server.launch import spawn_server
from framebridge.protocol.errors import InvalidParams, ModelNotFound
from framebridge.server.backends.diffusers_backend import DiffusersBackend, window_spans
from framebridge.server.colour import display_to_linear, linear_to_display
from framebridge.server.models import load_config
from framebridge.server.restyle import StyleRequest
from framebridge.server.restyle.schedule import frame_seed

pytestmark = pytest.mark.diffusers


def plate(seed: int, height: int, width: int) -> np.ndarray:
    """A smooth random plate: low-frequency colour blobs, like a blurred photograph."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((4, 4, 3), dtype=np.float32)
    rows = np.linspace(0, 3, height, dtype=np.float32)
    cols = np.linspace(0, 3, width, dtype=np.float32)
    row_low, col_low = np.floor(rows).astype(int).clip(0, 2), np.floor(cols).astype(int).clip(0, 2)
    row_t, col_t = (rows - row_low)[:, None, None], (cols - col_low)[None, :, None]
    top = coarse[row_low][:, col_low] * (1 - col_t) + coarse[row_low][:, col_low + 1] * col_t
    bottom = coarse[row_low + 1][:, col_low] * (1 - col_t) + coarse[row_low + 1][:, col_low + 1] * col_t
    return np.ascontiguousarray(top * (1 - row_t) + bottom * row_t, dtype=np.float32)


def request(number: int, height: int = 64, width: int = 64, **changes) -> StyleRequest:
    image = plate(number, height, width)
    depth = np.repeat(np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None], height, axis=0).repeat(3, axis=2)
    canny = np.zeros((height, width, 3), dtype=np.float32)
    canny[height // 3, :] = 1.0
    canny[:, width // 2] = 1.0
    fields = dict(
        number=number, image=image, conditions={"depth": depth, "canny": canny}, prompt="a watercolour street",
        negative_prompt="blurry", strength=0.6, seed=1000 + number, guidance_scale=5.0, steps=4,
        condition_weights={"depth": 1.0, "canny": 0.5}, options={},
    )
    fields.update(changes)
    return StyleRequest(**fields)


@pytest.fixture(scope="module")
def backend(tiny_models: TinyModels) -> DiffusersBackend:
    backend = DiffusersBackend(load_config(tiny_models.config_file))
    backend.load()
    return backend


def test_importing_the_backend_does_not_import_torch() -> None:
    code = "import sys, framebridge.server.backends; sys.exit('torch' in sys.modules or 'diffusers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_restyles_three_frames_with_two_controlnets_at_plate_size(backend: DiffusersBackend) -> None:
    window = [request(number, 256, 256) for number in (1, 2, 3)]
    results = backend.run(window)
    assert [result.shape for result in results] == [(256, 256, 3)] * 3
    for result, sent in zip(results, window):
        assert result.dtype == np.float32 and 0.0 <= result.min() and result.max() <= 1.0
        assert not np.array_equal(result, sent.image)
    assert not np.array_equal(results[0], results[1])
    described = backend.describe()
    assert {"restyle.sd15.base", "restyle.sd15.controlnets.depth", "restyle.sd15.controlnets.canny"} <= set(described["models"])
    assert described["device"] == "cpu" and described["conditions"]["sd15"] == ["canny", "depth"] and described["available"]


def test_describe_reports_a_missing_config_without_raising(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMEBRIDGE_MODELS", str(tmp_path / "missing.toml"))
    described = DiffusersBackend().describe()
    assert described["available"] is False and str(tmp_path / "missing.toml") in described["error"]
    assert described["device"] == "not loaded" and described["models"] == []


def test_same_inputs_and_seed_give_identical_bytes_across_loads(backend: DiffusersBackend, tiny_models: TinyModels) -> None:
    window = [request(number) for number in (4, 5)]
    first = backend.run(window)
    reloaded = DiffusersBackend(load_config(tiny_models.config_file))
    assert [result.tobytes() for result in reloaded.run(window)] == [result.tobytes() for result in first]
    assert backend.version == reloaded.version


def test_seed_and_condition_weights_change_the_result(backend: DiffusersBackend) -> None:
    base = backend.run([request(6)])[0]
    assert not np.array_equal(backend.run([request(6, seed=7)])[0], base)
    assert not np.array_equal(backend.run([request(6, condition_weights={"depth": 0.0, "canny": 2.0})])[0], base)


def test_plates_of_any_size_come_back_at_their_exact_size(backend: DiffusersBackend) -> None:
    odd = request(7, 37, 61)
    scaled = request(8, 150, 90, options={"max_side": 64})
    results = backend.run([odd, scaled])
    assert results[0].shape == (37, 61, 3) and results[1].shape == (150, 90, 3)


def test_a_lora_from_the_config_changes_the_result_by_its_weight(backend: DiffusersBackend) -> None:
    plain = backend.run([request(9)])[0]
    configured = backend.run([request(9, options={"loras": [LORA_NAME]})])[0]
    stronger = backend.run([request(9, options={"loras": {LORA_NAME: 2.0}})])[0]
    assert not np.array_equal(configured, plain) and not np.array_equal(stronger, configured)
    assert np.array_equal(backend.run([request(9)])[0], plain)


def test_no_denoising_step_returns_the_input(backend: DiffusersBackend) -> None:
    sent = request(10, strength=0.1, steps=4)
    assert np.array_equal(backend.run([sent])[0], sent.image)


def test_plain_img2img_runs_without_conditions(backend: DiffusersBackend) -> None:
    result = backend.run([request(11, conditions={}, condition_weights={})])[0]
    assert result.shape == (64, 64, 3)


def test_unknown_controlnet_name_is_invalid_params(backend: DiffusersBackend) -> None:
    sent = request(12)
    with pytest.raises(InvalidParams) as caught:
        backend.run([replace(sent, conditions={**sent.conditions, "pose": sent.image})])
    assert caught.value.details["allowed"] == ["canny", "depth"]
    assert "[restyle.sd15.controlnets]" in caught.value.fix


@pytest.mark.parametrize(
    "options, message",
    [
        ({"family": "sd3"}, "unknown family"),
        ({"mode": "animatediff", "family": "sdxl"}, "sd15 family only"),
        ({"loras": ["nowhere"]}, "no LoRA named 'nowhere'"),
        ({"window": 4, "overlap": 4}, "overlap 0..window-1"),
        ({"strength": 0.5}, "no params"),
    ],
)
def test_bad_options_are_invalid_params(backend: DiffusersBackend, options: dict, message: str) -> None:
    with pytest.raises(InvalidParams, match=message):
        backend.check_options(options)


def test_missing_model_folder_is_model_not_found_naming_path_and_fix(tiny_models: TinyModels, tmp_path: Path) -> None:
    config_file = tmp_path / "models.toml"
    config_file.write_text(f'[restyle.sd15]\nbase = "{tmp_path / "gone"}"\n', encoding="utf-8")
    backend = DiffusersBackend(load_config(config_file))
    with pytest.raises(ModelNotFound) as caught:
        backend.run([request(13)])
    assert str(tmp_path / "gone") in caught.value.message
    assert "put the model files in" in caught.value.fix and str(config_file) in caught.value.fix


def test_version_changes_with_lora_weight_device_dtype_and_torch(
    tiny_models: TinyModels, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_text = tiny_models.config_file.read_text(encoding="utf-8")
    versions = {}
    for weight in ("0.8", "0.3"):
        config_file = tiny_models.root / f"models-{weight}.toml"
        config_file.write_text(config_text.replace(f"weight = {LORA_WEIGHT}", f"weight = {weight}"), encoding="utf-8")
        versions[weight] = DiffusersBackend(load_config(config_file), device="cpu").version
    assert versions["0.8"] != versions["0.3"]
    config = load_config(tiny_models.config_file)
    cpu, cuda = DiffusersBackend(config, device="cpu").version, DiffusersBackend(config, device="cuda").version
    assert cpu != cuda and "cpu-float32" in cpu and "cuda-float16" in cuda
    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.9.9" if name == "torch" else real_version(name))
    assert DiffusersBackend(config, device="cpu").version != cpu


def test_a_loader_error_on_a_broken_folder_is_model_not_found_naming_the_path(tiny_models: TinyModels, tmp_path: Path) -> None:
    broken = tmp_path / "sd15"
    shutil.copytree(tiny_models.root / "sd15", broken)
    (broken / "scheduler" / "scheduler_config.json").write_text("{", encoding="utf-8")
    config_file = tmp_path / "models.toml"
    config_file.write_text(f'[restyle.sd15]\nbase = "{broken}"\n', encoding="utf-8")
    with pytest.raises(ModelNotFound) as caught:
        DiffusersBackend(load_config(config_file)).load()
    assert str(broken) in caught.value.message and caught.value.details["role"] == "restyle.sd15.base"
    assert "save_pretrained" in caught.value.fix


def test_a_pipeline_folder_with_only_model_index_fails_check_options_naming_the_missing_files(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    (tmp_path / "sd15").mkdir()
    shutil.copy(tiny_models.root / "sd15" / "model_index.json", tmp_path / "sd15")
    config_file = tmp_path / "models.toml"
    config_file.write_text('[restyle.sd15]\nbase = "./sd15"\n', encoding="utf-8")
    with pytest.raises(ModelNotFound) as caught:
        DiffusersBackend(load_config(config_file)).check_options({})
    assert "scheduler/scheduler_config.json" in caught.value.details["missing"]
    assert "unet/*.safetensors or *.bin" in caught.value.details["missing"]


def test_unconfigured_family_is_model_not_found(tiny_models: TinyModels, tmp_path: Path) -> None:
    config_file = tmp_path / "models.toml"
    config_file.write_text(f'[restyle.sd15]\nbase = "{tiny_models.root / "sd15"}"\n', encoding="utf-8")
    with pytest.raises(ModelNotFound, match="restyle.sdxl.base") as caught:
        DiffusersBackend(load_config(config_file)).check_options({"family": "sdxl"})
    assert "[restyle.sdxl]" in caught.value.fix


def test_sdxl_family_restyles_with_its_own_controlnet(backend: DiffusersBackend) -> None:
    sent = request(14, 40, 56, options={"family": "sdxl"})
    depth_only = replace(sent, conditions={"depth": sent.conditions["depth"]}, condition_weights={"depth": 1.0})
    results = backend.run([depth_only, replace(depth_only, conditions={}, condition_weights={})])
    assert [result.shape for result in results] == [(40, 56, 3)] * 2
    assert not np.array_equal(results[0], results[1])
    assert "restyle.sdxl.controlnets.depth" in backend.describe()["models"]
    with pytest.raises(InvalidParams, match="no sdxl ControlNet"):
        backend.run([sent])


def test_window_spans_cover_every_frame_with_full_windows() -> None:
    assert window_spans(3, 4, 1) == [(0, 3)]
    assert window_spans(10, 4, 1) == [(0, 4), (3, 7), (6, 10)]
    assert window_spans(9, 4, 2) == [(0, 4), (2, 6), (4, 8), (5, 9)]


def test_animatediff_mode_runs_overlapping_windows(backend: DiffusersBackend) -> None:
    options = {"mode": "animatediff", "window": 3, "overlap": 1}
    window = [request(number, 48, 64, seed=500, options=options) for number in range(5)]
    results = backend.run(window)
    assert [result.shape for result in results] == [(48, 64, 3)] * 5
    assert "restyle.animatediff.motion_adapter" in backend.describe()["models"]
    assert [result.tobytes() for result in backend.run(window)] == [result.tobytes() for result in results]


def test_animatediff_mode_refuses_a_window_with_mixed_prompts(backend: DiffusersBackend) -> None:
    options = {"mode": "animatediff", "window": 3, "overlap": 1}
    window = [request(0, options=options), request(1, prompt="another prompt", options=options)]
    with pytest.raises(InvalidParams, match="frame 1 differs from frame 0"):
        backend.run(window)


@pytest.fixture(scope="module")
def diffusers_server(tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory):
    """A real `framebridge serve` whose models config is the tiny models' TOML."""
    folder = tmp_path_factory.mktemp("diffusers-server")
    running = spawn_server(folder, env={"FRAMEBRIDGE_MODELS": str(tiny_models.config_file),
                                        "FRAMEBRIDGE_CACHE_DIR": str(folder / "cache")})
    yield running
    running.stop()


def shot_frames(numbers: list[int], size: int = 64) -> dict[int, dict[str, np.ndarray]]:
    """Scene-linear RGBA beauty plus the depth and canny condition images a client sends after `extract`."""
    frames = {}
    for number in numbers:
        sent = request(number, size, size)
        beauty = np.concatenate([display_to_linear(sent.image), np.ones((size, size, 1), np.float32)], axis=2)
        frames[number] = {"beauty": beauty, "control_depth": sent.conditions["depth"], "control_canny": sent.conditions["canny"]}
    return frames


RESTYLE_PARAMS = {"prompt": "a watercolour street", "negative_prompt": "blurry", "strength": 0.6, "seed": 42, "steps": 4,
                  "guidance_scale": 5.0, "conditions": {"depth": 1.0, "canny": 0.5}, "temporal": False, "cache": False}


def test_restyle_op_through_a_server_matches_the_backend_in_process_bit_for_bit(
    diffusers_server, backend: DiffusersBackend
) -> None:
    frames = shot_frames([1, 2, 3])
    with diffusers_server.client() as client:
        outcome = client.submit("restyle", [1, 2, 3], frames, params=RESTYLE_PARAMS, backend="diffusers").wait(timeout=300)
        again = client.submit("restyle", [1, 2, 3], frames, params=RESTYLE_PARAMS, backend="diffusers").wait(timeout=300)
    assert outcome.state == "completed" and not outcome.failed and sorted(outcome.results) == [1, 2, 3]
    for number, buffers in frames.items():
        result = outcome.results[number]["beauty"]
        assert result.shape == (64, 64, 4) and result.dtype == np.float32
        assert np.array_equal(result[..., 3], buffers["beauty"][..., 3])
        assert result.tobytes() == again.results[number]["beauty"].tobytes()
        expected = backend.run([StyleRequest(
            number=number, image=linear_to_display(buffers["beauty"][..., :3]),
            conditions={"depth": buffers["control_depth"], "canny": buffers["control_canny"]},
            prompt=RESTYLE_PARAMS["prompt"], negative_prompt=RESTYLE_PARAMS["negative_prompt"], strength=0.6,
            seed=frame_seed(42, number), guidance_scale=5.0, steps=4, condition_weights=RESTYLE_PARAMS["conditions"],
        )])[0]
        assert result[..., :3].tobytes() == display_to_linear(expected).tobytes()


def test_restyle_op_with_temporal_blending_and_cache_replays_identical_bytes(diffusers_server) -> None:
    frames = shot_frames([1, 2, 3])
    params = {**RESTYLE_PARAMS, "temporal": True, "cache": True, "seed": 43}
    with diffusers_server.client() as client:
        first = client.submit("restyle", [1, 2, 3], frames, params=params, backend="diffusers").wait(timeout=300)
        replay = list(client.submit("restyle", [1, 2, 3], frames, params=params, backend="diffusers"))
    results = {event.frame: event for event in replay if type(event).__name__ == "ResultEvent"}
    assert sorted(results) == [1, 2, 3] and all(event.meta["cache"] == "hit" for event in results.values())
    for number in (1, 2, 3):
        assert results[number].buffers["beauty"].tobytes() == first.results[number]["beauty"].tobytes()


def test_restyle_op_refuses_a_condition_without_a_controlnet_before_any_frame(diffusers_server) -> None:
    with diffusers_server.client() as client:
        with pytest.raises(InvalidParams) as caught:
            client.submit("restyle", [1], shot_frames([1]), params={**RESTYLE_PARAMS, "conditions": {"normal": 1.0}},
                          backend="diffusers")
    assert "normal" in caught.value.message and caught.value.details["allowed"] == ["canny", "depth"]


def test_restyle_op_runs_animatediff_windows_through_a_server(diffusers_server) -> None:
    numbers = [1, 2, 3, 4, 5]
    params = {**RESTYLE_PARAMS, "mode": "animatediff", "window": 3, "overlap": 1}
    with diffusers_server.client() as client:
        outcome = client.submit("restyle", numbers, shot_frames(numbers, 48), params=params, backend="diffusers").wait(timeout=300)
    assert outcome.state == "completed" and not outcome.failed
    assert [outcome.results[number]["beauty"].shape for number in numbers] == [(48, 48, 4)] * 5
