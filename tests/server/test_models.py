"""The models config: finding it, resolving roles to local folders or cached hub snapshots, and the report."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from framebridge.protocol.errors import ModelError, ModelNotFound
from framebridge.server.models import config_path, load_config, models_command, report, resolve


def write_config(folder: Path, text: str) -> Path:
    path = folder / "models.toml"
    path.write_text(text, encoding="utf-8")
    return path


def make_pipeline_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}), encoding="utf-8")
    return folder


def make_cached_snapshot(cache: Path, repo_id: str, files: dict[str, str]) -> Path:
    """A Hugging Face hub cache entry laid out as `hf download` leaves it (refs/main -> snapshots/<commit>)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_folder = cache / f"models--{repo_id.replace('/', '--')}"
    (repo_folder / "refs").mkdir(parents=True)
    (repo_folder / "refs" / "main").write_text(commit, encoding="utf-8")
    snapshot = repo_folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, text in files.items():
        (snapshot / name).write_text(text, encoding="utf-8")
    return snapshot


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_config_path_prefers_explicit_then_environment_then_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAMEBRIDGE_MODELS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "framebridge" / "models.toml"
    monkeypatch.setenv("FRAMEBRIDGE_MODELS", str(tmp_path / "env.toml"))
    assert config_path() == tmp_path / "env.toml"
    assert config_path(tmp_path / "explicit.toml") == tmp_path / "explicit.toml"


def test_absent_default_config_configures_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAMEBRIDGE_MODELS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    config = load_config()
    assert config.entries == {}
    with pytest.raises(ModelNotFound) as caught:
        resolve("restyle.sd15.base", config)
    assert "[restyle.sd15]" in caught.value.fix and str(config.path) in caught.value.fix


def test_named_config_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="does not exist"):
        load_config(tmp_path / "nowhere.toml")


def test_invalid_toml_and_bad_entries_are_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not valid TOML"):
        load_config(write_config(tmp_path, "[restyle\n"))
    with pytest.raises(ModelError, match="estimators.depth must be a path"):
        load_config(write_config(tmp_path, "[estimators]\ndepth = 3\n"))
    with pytest.raises(ModelError, match="loras.ink"):
        load_config(write_config(tmp_path, '[loras]\nink = {path = "./ink.safetensors", scale = 2}\n'))


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    base = make_pipeline_folder(tmp_path / "weights" / "sd15")
    config = load_config(write_config(tmp_path, '[restyle.sd15]\nbase = "./weights/sd15"\n[loras]\nink = {path = "ink.safetensors", weight = 0.5}\n'))
    assert resolve("restyle.sd15.base", config) == base
    assert config.entries["loras.ink"].weight == 0.5
    assert config.names("loras") == ["ink"]


def test_missing_local_folder_names_the_path_and_the_fix(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, '[restyle.sd15.controlnets]\ndepth = "/models/controlnet-depth"\n'))
    with pytest.raises(ModelNotFound) as caught:
        resolve("restyle.sd15.controlnets.depth", config)
    assert "/models/controlnet-depth does not exist" in caught.value.message
    assert "put the model files in /models/controlnet-depth" in caught.value.fix
    assert caught.value.details["role"] == "restyle.sd15.controlnets.depth"


def test_folder_without_the_files_a_loader_needs_names_them(tmp_path: Path) -> None:
    (tmp_path / "sd15").mkdir()
    config = load_config(write_config(tmp_path, '[restyle.sd15]\nbase = "./sd15"\n'))
    with pytest.raises(ModelNotFound) as caught:
        resolve("restyle.sd15.base", config)
    assert caught.value.details["missing"] == ["model_index.json"]


def test_hub_id_resolves_to_the_cached_snapshot_offline(tmp_path: Path, hub_cache: Path) -> None:
    snapshot = make_cached_snapshot(hub_cache, "someone/controlnet-depth", {"config.json": "{}"})
    config = load_config(write_config(tmp_path, '[restyle.sd15.controlnets]\ndepth = "someone/controlnet-depth"\n'))
    assert resolve("restyle.sd15.controlnets.depth", config) == snapshot


def test_hub_id_not_in_the_cache_says_how_to_get_it(tmp_path: Path, hub_cache: Path) -> None:
    config = load_config(write_config(tmp_path, '[estimators]\ndepth = "someone/depth-model"\n'))
    with pytest.raises(ModelNotFound) as caught:
        resolve("estimators.depth", config)
    assert str(hub_cache) in caught.value.message
    assert "hf download someone/depth-model" in caught.value.fix


def test_report_lists_present_missing_and_unconfigured_roles(tmp_path: Path, hub_cache: Path) -> None:
    make_pipeline_folder(tmp_path / "sd15")
    config = load_config(write_config(tmp_path, '[restyle.sd15]\nbase = "./sd15"\n[estimators]\ndepth = "someone/depth-model"\n'))
    states = {status.role: status for status in report(config)}
    assert states["restyle.sd15.base"].state == "present" and states["restyle.sd15.base"].path == tmp_path / "sd15"
    assert states["estimators.depth"].state == "missing" and "hf download" in states["estimators.depth"].fix
    assert states["restyle.sdxl.base"].state == "not configured" and "[restyle.sdxl]" in states["restyle.sdxl.base"].fix


def test_models_command_prints_each_role_and_fails_when_one_is_missing(
    tmp_path: Path, hub_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_pipeline_folder(tmp_path / "sd15")
    path = write_config(tmp_path, '[restyle.sd15]\nbase = "./sd15"\n')
    assert models_command(types.SimpleNamespace(models_config=str(path))) == 0
    printed = capsys.readouterr().out
    assert f"models config: {path}" in printed
    assert "restyle.sd15.base" in printed and "present" in printed
    write_config(tmp_path, '[restyle.sd15]\nbase = "./sd15"\n[restyle.animatediff]\nmotion_adapter = "./adapter"\n')
    assert models_command(types.SimpleNamespace(models_config=str(path))) == 1
    assert "fix: restyle.animatediff.motion_adapter" in capsys.readouterr().out


def test_owner_name_value_is_a_folder_when_one_exists_next_to_the_config(tmp_path: Path, hub_cache: Path) -> None:
    local = make_pipeline_folder(tmp_path / "studio" / "sd15-house-style")
    config = load_config(write_config(tmp_path, '[restyle.sd15]\nbase = "studio/sd15-house-style"\n'))
    assert resolve("restyle.sd15.base", config) == local


def make_component_pipeline(folder: Path) -> Path:
    """A pipeline folder whose model_index.json names a model, a scheduler, a tokenizer and an absent component."""
    folder.mkdir(parents=True)
    index = {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "scheduler": ["diffusers", "DDIMScheduler"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "safety_checker": [None, None],
    }
    (folder / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    return folder


def test_pipeline_folder_with_only_model_index_is_missing_every_component_file(tmp_path: Path) -> None:
    make_component_pipeline(tmp_path / "sd15")
    config = load_config(write_config(tmp_path, '[restyle.sd15]\nbase = "./sd15"\n'))
    with pytest.raises(ModelNotFound) as caught:
        resolve("restyle.sd15.base", config)
    assert caught.value.details["missing"] == [
        "scheduler/scheduler_config.json",
        "tokenizer/tokenizer_config.json",
        "unet/config.json",
        "unet/*.safetensors or *.bin",
    ]
    assert "scheduler/scheduler_config.json" in caught.value.message
    assert report(config)[0].state == "missing"


def test_pipeline_folder_is_present_once_each_component_has_its_config_and_weights(tmp_path: Path) -> None:
    folder = make_component_pipeline(tmp_path / "sd15")
    for name in ("unet/config.json", "scheduler/scheduler_config.json", "tokenizer/tokenizer_config.json"):
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text("{}", encoding="utf-8")
    config = load_config(write_config(tmp_path, '[restyle.sd15]\nbase = "./sd15"\n'))
    with pytest.raises(ModelNotFound) as caught:
        resolve("restyle.sd15.base", config)
    assert caught.value.details["missing"] == ["unet/*.safetensors or *.bin"]
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    assert resolve("restyle.sd15.base", config) == folder
    assert report(config)[0].state == "present"
