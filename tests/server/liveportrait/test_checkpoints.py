"""The LivePortrait loader against checkpoints laid out as the official release lays them out."""

from __future__ import annotations

import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from framebridge.protocol.errors import ModelError, ModelNotFound
from framebridge.server.liveportrait.architecture import Architecture
from framebridge.server.liveportrait.checkpoints import CHECKPOINT_FILES, load_networks, read_architecture, strip_module_prefix, weights_folder
from framebridge.server.models import load_config, models_command, report

from fixtures.liveportrait import TINY_ARCHITECTURE, build_tiny_liveportrait, save_release

torch = pytest.importorskip("torch")


def copy_release(tiny_liveportrait, tmp_path: Path) -> Path:
    folder = tmp_path / "liveportrait"
    shutil.copytree(tiny_liveportrait.folder, folder)
    (tmp_path / "models.toml").write_text('[expression]\nliveportrait = "./liveportrait"\n', encoding="utf-8")
    return folder


@pytest.mark.slow
def test_the_release_architecture_matches_the_published_parameter_counts():
    from framebridge.server.liveportrait.networks import build_networks

    networks = build_networks(Architecture())
    millions = {name: sum(parameter.numel() for parameter in networks[name].parameters()) / 1e6 for name in CHECKPOINT_FILES if name != "stitching_retargeting_module"}
    # LivePortrait's paper: F 0.84 M, M 28.12 M, W 45.53 M, G 55.37 M parameters.
    assert millions == pytest.approx({"appearance_feature_extractor": 0.84, "motion_extractor": 28.12, "warping_module": 45.53, "spade_generator": 55.37}, abs=0.01)
    generator_keys = networks["spade_generator"].state_dict()
    assert {"G_middle_0.conv_0.weight_orig", "G_middle_0.conv_0.weight_u", "up_0.conv_s.weight_orig", "conv_img.0.weight"} <= set(generator_keys)
    assert "dense_motion_network.hourglass.decoder.up_blocks.4.conv.weight" in networks["warping_module"].state_dict()
    assert "resblocks_3d.3dr5.conv2.weight" in networks["appearance_feature_extractor"].state_dict()
    assert "detector.stages.2.8.grn.gamma" in networks["motion_extractor"].state_dict()


def test_module_prefixes_are_stripped_from_the_front_only():
    assert strip_module_prefix({"module.mlp.0.weight": 1, "mlp.2.bias": 2, "x.module.y": 3}) == {"mlp.0.weight": 1, "mlp.2.bias": 2, "x.module.y": 3}


def test_the_loader_fills_every_network_from_the_release_layout(tiny_liveportrait):
    folder = weights_folder(load_config(tiny_liveportrait.config_file))
    assert folder == tiny_liveportrait.folder
    assert read_architecture(folder) == TINY_ARCHITECTURE
    networks = load_networks(folder, TINY_ARCHITECTURE)
    saved = torch.load(folder / "base_models/warping_module.pth", weights_only=True)
    for key, value in networks["warping_module"].state_dict().items():
        assert torch.equal(value, saved[key]), key
    stitching = torch.load(folder / "retargeting_models/stitching_retargeting_module.pth", weights_only=True)
    assert all(key.startswith("module.") for key in stitching["retarget_eye"])
    assert torch.equal(networks["stitching_retargeting_module"]["retarget_eye"].mlp[0].weight, stitching["retarget_eye"]["module.mlp.0.weight"])
    assert not networks["spade_generator"].training and not networks["stitching_retargeting_module"]["retarget_mouth"].training


@pytest.mark.slow
def test_loaded_networks_compute_what_the_saved_ones_did(tmp_path):
    from framebridge.server.liveportrait.networks import build_networks

    torch.manual_seed(3)
    original = build_networks(TINY_ARCHITECTURE)
    save_release(original, tmp_path)
    loaded = load_networks(tmp_path, TINY_ARCHITECTURE)
    image = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        original["motion_extractor"].eval()
        expected = original["motion_extractor"](image)
        actual = loaded["motion_extractor"](image)
        generator_input = torch.rand(1, 8, 16, 16)
        original["spade_generator"].eval()
        assert torch.allclose(original["spade_generator"](generator_input), loaded["spade_generator"](generator_input))
    assert all(torch.equal(expected[name], actual[name]) for name in expected)


def test_a_checkpoint_with_a_wrong_key_is_refused_naming_the_file_and_key(tiny_liveportrait, tmp_path):
    folder = copy_release(tiny_liveportrait, tmp_path)
    path = folder / "base_models/appearance_feature_extractor.pth"
    state = torch.load(path, weights_only=True)
    state["first.conv.weights"] = state.pop("first.conv.weight")
    torch.save(state, path)
    with pytest.raises(ModelError) as caught:
        load_networks(folder, TINY_ARCHITECTURE)
    assert str(path) in caught.value.message
    assert caught.value.details["missing"] == ["first.conv.weight"] and caught.value.details["unexpected"] == ["first.conv.weights"]


@pytest.mark.slow
def test_a_checkpoint_of_another_width_is_refused_naming_the_shapes(tiny_liveportrait, tmp_path):
    folder = copy_release(tiny_liveportrait, tmp_path)
    with pytest.raises(ModelError) as caught:
        load_networks(folder, Architecture())
    assert "wrong shapes" in caught.value.message and "appearance_feature_extractor.pth" in caught.value.message


def test_a_stitching_file_without_the_eye_dict_is_refused(tiny_liveportrait, tmp_path):
    folder = copy_release(tiny_liveportrait, tmp_path)
    path = folder / CHECKPOINT_FILES["stitching_retargeting_module"]
    state = torch.load(path, weights_only=True)
    del state["retarget_eye"]
    torch.save(state, path)
    with pytest.raises(ModelError) as caught:
        load_networks(folder, TINY_ARCHITECTURE)
    assert caught.value.details["missing"] == ["retarget_eye"]


def test_a_file_that_is_not_a_state_dict_is_refused_without_unpickling_it(tiny_liveportrait, tmp_path):
    folder = copy_release(tiny_liveportrait, tmp_path)
    path = folder / CHECKPOINT_FILES["motion_extractor"]
    torch.save({"weights": types.SimpleNamespace(a=1)}, path)
    with pytest.raises(ModelError) as caught:
        load_networks(folder, TINY_ARCHITECTURE)
    assert str(path) in caught.value.message


@pytest.mark.parametrize("relative", list(CHECKPOINT_FILES.values()))
def test_a_missing_checkpoint_names_the_file_and_where_it_goes(tiny_liveportrait, tmp_path, relative):
    folder = copy_release(tiny_liveportrait, tmp_path)
    (folder / relative).unlink()
    with pytest.raises(ModelNotFound) as caught:
        weights_folder(load_config(tmp_path / "models.toml"))
    assert relative in caught.value.message
    assert str(folder / relative) in caught.value.fix and "KwaiVGI/LivePortrait" in caught.value.fix


def test_a_repository_snapshot_is_read_from_its_liveportrait_folder(tiny_liveportrait, tmp_path):
    shutil.copytree(tiny_liveportrait.folder, tmp_path / "LivePortrait" / "liveportrait")
    (tmp_path / "models.toml").write_text('[expression]\nliveportrait = "./LivePortrait"\n', encoding="utf-8")
    assert weights_folder(load_config(tmp_path / "models.toml")) == tmp_path / "LivePortrait" / "liveportrait"


def test_an_unconfigured_liveportrait_role_says_how_to_add_it(tmp_path):
    (tmp_path / "models.toml").write_text("", encoding="utf-8")
    config = load_config(tmp_path / "models.toml")
    with pytest.raises(ModelNotFound) as caught:
        weights_folder(config)
    assert "[expression]" in caught.value.fix
    assert {status.role: status.state for status in report(config)}["expression.liveportrait"] == "not configured"


def test_framebridge_models_lists_the_liveportrait_role(tiny_liveportrait, tmp_path, capsys):
    assert models_command(types.SimpleNamespace(models_config=str(tiny_liveportrait.config_file))) == 0
    assert "expression.liveportrait" in capsys.readouterr().out
    folder = copy_release(tiny_liveportrait, tmp_path)
    (folder / CHECKPOINT_FILES["spade_generator"]).unlink()
    assert models_command(types.SimpleNamespace(models_config=str(tmp_path / "models.toml"))) == 1
    assert "base_models/spade_generator.pth" in capsys.readouterr().out


def test_a_bad_architecture_file_is_a_model_error(tiny_liveportrait, tmp_path):
    folder = copy_release(tiny_liveportrait, tmp_path)
    (folder / "architecture.json").write_text('{"warping": {"channels": 3}}', encoding="utf-8")
    with pytest.raises(ModelError, match="warping.channels"):
        read_architecture(folder)


def test_importing_the_backend_package_and_the_loader_does_not_import_torch():
    code = (
        "import sys\n"
        "import framebridge.server.liveportrait, framebridge.server.liveportrait.checkpoints\n"
        "import framebridge.server.liveportrait.keypoints, framebridge.server.liveportrait.animation, framebridge.server.liveportrait.crop\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_tiny_release_is_rebuilt_identically_from_its_seed(tmp_path):
    first = build_tiny_liveportrait(tmp_path / "a", seed=5)
    second = build_tiny_liveportrait(tmp_path / "b", seed=5)
    relative = CHECKPOINT_FILES["spade_generator"]
    one = torch.load(first.folder / relative, weights_only=True)
    two = torch.load(second.folder / relative, weights_only=True)
    assert all(np.array_equal(one[key].numpy(), two[key].numpy()) for key in one)
