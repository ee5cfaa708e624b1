"""The Wav2Lip-compatible generator: official key layout, strict checkpoint loading, face input and output."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from framebridge.protocol.errors import ModelError, ModelNotFound
from framebridge.server.lipsync.wav2lip import (
    CHECKPOINT_ROLE,
    build_wav2lip,
    checkpoint_file,
    face_input,
    load_wav2lip,
    mouth_output,
)
from framebridge.server.models import load_config, models_command, report, resolve
from fixtures.lipsync import TINY_DIVISOR, save_official_checkpoint


def test_full_size_model_has_the_official_parameter_names_and_shapes():
    state = build_wav2lip().state_dict()
    expected = {
        "face_encoder_blocks.0.0.conv_block.0.weight": (16, 6, 7, 7),
        "face_encoder_blocks.2.3.conv_block.1.running_mean": (64,),
        "face_encoder_blocks.6.1.conv_block.0.weight": (512, 512, 1, 1),
        "audio_encoder.0.conv_block.0.weight": (32, 1, 3, 3),
        "audio_encoder.12.conv_block.0.weight": (512, 512, 1, 1),
        "face_decoder_blocks.0.0.conv_block.0.weight": (512, 512, 1, 1),
        "face_decoder_blocks.1.0.conv_block.0.weight": (1024, 512, 3, 3),  # ConvTranspose2d: (in, out, k, k)
        "face_decoder_blocks.3.0.conv_block.0.weight": (768, 384, 3, 3),
        "face_decoder_blocks.6.2.conv_block.1.weight": (64,),
        "output_block.0.conv_block.0.weight": (32, 80, 3, 3),
        "output_block.1.weight": (3, 32, 1, 1),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    assert len(state) == 352  # 88 conv/norm units: weight, bias, and norm weight, bias, mean, var, batches; 2 for the 1x1 head
    assert {key.split(".")[0] for key in state} == {"face_encoder_blocks", "audio_encoder", "face_decoder_blocks", "output_block"}
    assert max(int(key.split(".")[1]) for key in state if key.startswith("audio_encoder.")) == 12
    assert max(int(key.split(".")[1]) for key in state if key.startswith("face_decoder_blocks.")) == 6


def test_tiny_checkpoint_with_module_prefixes_loads_strictly_and_runs(tmp_path):
    import torch

    file = save_official_checkpoint(tmp_path / "wav2lip_gan.pth", seed=5)
    raw = torch.load(file, weights_only=True)["state_dict"]
    assert all(key.startswith("module.") for key in raw)
    model = load_wav2lip(tmp_path)  # the folder form finds wav2lip_gan.pth
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, raw[f"module.{key}"])
    assert not model.training
    with torch.no_grad():
        out = model(torch.zeros(2, 1, 80, 16), torch.rand(2, 6, 96, 96))
    assert out.shape == (2, 3, 96, 96) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_a_wrong_key_is_refused_naming_it(tmp_path):
    import torch

    file = save_official_checkpoint(tmp_path / "wav2lip.pth", seed=1)
    checkpoint = torch.load(file, weights_only=True)
    state = checkpoint["state_dict"]
    state["module.audio_encoder.3.conv_block.9.weight"] = state.pop("module.audio_encoder.3.conv_block.0.weight")
    torch.save(checkpoint, file)
    with pytest.raises(ModelError, match="audio_encoder.3.conv_block.9.weight"):
        load_wav2lip(file)


def test_a_shape_mismatch_and_a_missing_state_dict_are_refused(tmp_path):
    import torch

    file = save_official_checkpoint(tmp_path / "wav2lip.pth", seed=1)
    checkpoint = torch.load(file, weights_only=True)
    checkpoint["state_dict"]["module.output_block.1.weight"] = torch.zeros(3, 5, 1, 1)
    torch.save(checkpoint, file)
    with pytest.raises(ModelError, match="output_block.1.weight"):
        load_wav2lip(file)
    torch.save({"weights": {}}, file)
    with pytest.raises(ModelError, match="state_dict"):
        load_wav2lip(file)


def test_missing_checkpoint_names_the_file_and_where_it_goes(tmp_path):
    with pytest.raises(ModelNotFound) as caught:
        load_wav2lip(tmp_path / "nowhere" / "wav2lip_gan.pth")
    assert "nowhere/wav2lip_gan.pth" in caught.value.message and "wav2lip_gan.pth" in caught.value.fix
    with pytest.raises(ModelNotFound) as caught:
        checkpoint_file(tmp_path)
    assert str(tmp_path) in caught.value.message and "wav2lip_gan.pth" in caught.value.fix


def test_models_config_role_is_listed_and_resolves(tmp_path, capsys):
    config_file = tmp_path / "models.toml"
    config_file.write_text("", encoding="utf-8")
    statuses = {status.role: status for status in report(load_config(config_file))}
    assert statuses[CHECKPOINT_ROLE].state == "not configured"
    assert "[lipsync.wav2lip]" in statuses[CHECKPOINT_ROLE].fix

    (tmp_path / "wav2lip").mkdir()
    config_file.write_text('[lipsync.wav2lip]\ncheckpoint = "./wav2lip"\n', encoding="utf-8")
    assert models_command(types.SimpleNamespace(models_config=str(config_file))) == 1
    assert "holds no .pth checkpoint" in capsys.readouterr().out

    save_official_checkpoint(tmp_path / "wav2lip" / "wav2lip_gan.pth", seed=2)
    assert resolve(CHECKPOINT_ROLE, load_config(config_file)) == tmp_path / "wav2lip"
    assert models_command(types.SimpleNamespace(models_config=str(config_file))) == 0


def test_face_input_masks_the_lower_half_and_stacks_bgr_reference():
    crop = np.zeros((150, 120, 3), np.float32)
    crop[..., 0] = 0.9  # red
    crop[..., 2] = 0.1  # blue
    tensor = face_input(crop)
    assert tensor.shape == (6, 96, 96) and tensor.dtype == np.float32
    assert np.all(tensor[:3, 48:] == 0.0)
    np.testing.assert_allclose(tensor[0, :48], 0.1, atol=1e-6)  # masked half, B first
    np.testing.assert_allclose(tensor[2, :48], 0.9, atol=1e-6)
    np.testing.assert_allclose(tensor[3], 0.1, atol=1e-6)  # reference: whole crop, BGR
    np.testing.assert_allclose(tensor[5], 0.9, atol=1e-6)


def test_mouth_output_turns_bgr_back_to_rgb_at_the_crop_size():
    prediction = np.zeros((3, 96, 96), np.float32)
    prediction[0] = 1.0  # blue in BGR
    image = mouth_output(prediction, 130, 170)
    assert image.shape == (170, 130, 3)
    np.testing.assert_allclose(image[..., 2], 1.0, atol=1e-6)
    np.testing.assert_allclose(image[..., 0], 0.0, atol=1e-6)


def test_importing_the_module_does_not_import_torch():
    code = "import sys; import framebridge.server.lipsync.wav2lip, framebridge.server.lipsync.mel; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "False"


def test_tiny_divisor_keeps_every_key(tmp_path):
    assert set(build_wav2lip(TINY_DIVISOR).state_dict()) == set(build_wav2lip().state_dict())
    assert Path(save_official_checkpoint(tmp_path / "w.pth", seed=0)).stat().st_size < 5_000_000
