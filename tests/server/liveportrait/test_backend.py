"""The ``liveportrait`` expression backend on tiny random weights and the astronaut's real face."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from framebridge.protocol.errors import ModelNotFound
from framebridge.server.expression.backend import AnimateRequest, FaceState, Motion
from framebridge.server.liveportrait.backend import LivePortraitBackend, carry_points
from framebridge.server.liveportrait.checkpoints import CHECKPOINT_FILES
from framebridge.server.models import load_config

pytest.importorskip("torch")

ALL = frozenset({"expression", "eyes", "lips", "pose"})


def state(face) -> FaceState:
    return FaceState(landmarks=face.landmarks.astype(np.float32), box=tuple(float(value) for value in face.box))


@pytest.fixture(scope="module")
def faces(astronaut, second_face, face_provider):
    from framebridge.server.faces import FaceTracker

    target = astronaut.astype(np.float32) / 255
    driving = second_face.astype(np.float32) / 255
    return target, state(FaceTracker(face_provider).find(astronaut)), driving, state(FaceTracker(face_provider).find(second_face))


@pytest.fixture(scope="module")
def backend(tiny_liveportrait):
    return LivePortraitBackend(load_config(tiny_liveportrait.config_file), device="cpu")


def request(faces, key="astronaut", regions=ALL, relative=True, multipliers=None) -> AnimateRequest:
    target, target_face, driving, driving_face = faces
    return AnimateRequest(
        target=target, target_face=target_face, driving=driving, driving_face=driving_face, reference=target,
        reference_face=target_face, source_key=key, motion=Motion(regions=regions, multipliers=multipliers or {}, relative=relative),
    )


@pytest.mark.slow
def test_animate_moves_only_the_face_and_returns_matte_stmap_and_landmarks(backend, faces):
    target, target_face = faces[0], faces[1]
    result = backend.animate(request(faces))
    height, width = target.shape[:2]
    assert result.image.shape == target.shape and result.image.dtype == np.float32
    assert result.matte.shape == (height, width) and result.stmap.shape == (height, width, 2) and result.landmarks.shape == (68, 2)
    assert np.isfinite(result.image).all() and np.isfinite(result.stmap).all() and np.isfinite(result.landmarks).all()
    outside = result.matte == 0
    assert np.array_equal(result.image[outside], target[outside])
    # The matte holds the face (eyes, nose, mouth) fully and leaves the image's corners out.
    inner = np.round(target_face.landmarks[17:]).astype(int)
    assert result.matte[inner[:, 1], inner[:, 0]].min() == 1.0
    assert result.matte[0, 0] == result.matte[-1, -1] == 0.0
    assert 0.02 < result.matte.mean() < 0.5
    # The STMap is the identity where nothing moves (Nuke: u = (x + 0.5) / W, v = 1 - (y + 0.5) / H).
    assert result.stmap[0, 0] == pytest.approx([0.5 / width, 1 - 0.5 / height])
    assert result.stmap[-1, -1] == pytest.approx([1 - 0.5 / width, 0.5 / height])
    assert not np.array_equal(result.image[~outside], target[~outside])


@pytest.mark.slow
def test_a_still_source_is_extracted_once_per_key(backend, faces, monkeypatch):
    backend.animate(request(faces, key="portrait"))
    model = backend._loaded()
    calls = []
    original = model.features
    monkeypatch.setattr(model, "features", lambda crop: calls.append(1) or original(crop))
    first = backend.animate(request(faces, key="portrait"))
    second = backend.animate(request(faces, key="portrait"))
    assert calls == []
    assert np.array_equal(first.image, second.image)
    backend.animate(request(faces, key="another frame"))
    assert calls == [1]


@pytest.mark.slow
def test_zero_multipliers_render_the_source_keypoints_whatever_the_driver(backend, faces, monkeypatch):
    model = backend._loaded()
    seen = []
    original = model.render
    monkeypatch.setattr(model, "render", lambda features, source, driven, crop: seen.append((source, driven)) or original(features, source, driven, crop))
    backend.animate(request(faces, multipliers={"expression": 0.0, "eyes": 0.0, "lips": 0.0, "pose": 0.0}))
    source, driven = seen[-1]
    np.testing.assert_allclose(driven, source, atol=1e-12)


@pytest.mark.slow
def test_fp16_output_that_is_broken_is_rendered_again_in_fp32(backend, faces, monkeypatch):
    from framebridge.server.liveportrait.model import Rendered

    model = backend._loaded()
    original = model._render
    precisions = []

    def render(features, source, driven, half):
        precisions.append(half)
        if half:
            rendered = original(features, source, driven, half=False)
            return Rendered(np.full_like(rendered.image, np.nan), rendered.flow, "fp16")
        return original(features, source, driven, half=False)

    monkeypatch.setattr(model, "_render", render)
    monkeypatch.setattr(model, "half", True)
    result = backend.animate(request(faces))
    assert precisions == [True, False]
    assert np.isfinite(result.image).all()


def test_looks_broken_catches_non_finite_and_black_frames_only():
    from framebridge.server.liveportrait.model import looks_broken

    face = np.full((8, 8, 3), 0.5, np.float32)
    assert looks_broken(np.full_like(face, np.nan), face)
    assert looks_broken(np.zeros_like(face), face)
    assert not looks_broken(face, face)
    assert not looks_broken(np.zeros_like(face), np.zeros_like(face))


def test_carry_points_inverts_a_backward_shift():
    height, width = 40, 50
    x, y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    # Every output pixel samples 3 px to its left: content moves 3 px right.
    positions = np.stack([x - 3.0, y], axis=-1)
    np.testing.assert_allclose(carry_points(positions, np.array([[20.0, 10.0], [30.5, 22.25]])), [[23.0, 10.0], [33.5, 22.25]], atol=1e-6)


def test_describe_reports_files_without_importing_torch(tiny_liveportrait, tmp_path):
    code = (
        "import sys\n"
        "from framebridge.server.liveportrait.backend import LivePortraitBackend\n"
        "from framebridge.server.models import load_config\n"
        f"description = LivePortraitBackend(load_config({str(tiny_liveportrait.config_file)!r})).describe()\n"
        "assert description['available'] and description['missing_files'] == [], description\n"
        f"missing = LivePortraitBackend(load_config({str(tmp_path / 'models.toml')!r})).describe()\n"
        "assert not missing['available'] and 'expression.liveportrait' in missing['missing_files'][0], missing\n"
        "assert 'torch' not in sys.modules\n"
    )
    (tmp_path / "models.toml").write_text("", encoding="utf-8")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_check_names_the_missing_checkpoint_and_where_it_goes(tiny_liveportrait, tmp_path):
    import shutil

    folder = tmp_path / "liveportrait"
    shutil.copytree(tiny_liveportrait.folder, folder)
    (tmp_path / "models.toml").write_text('[expression]\nliveportrait = "./liveportrait"\n', encoding="utf-8")
    (folder / CHECKPOINT_FILES["motion_extractor"]).unlink()
    backend = LivePortraitBackend(load_config(tmp_path / "models.toml"))
    with pytest.raises(ModelNotFound) as caught:
        backend.check()
    assert "base_models/motion_extractor.pth" in caught.value.message and str(folder / "base_models/motion_extractor.pth") in caught.value.fix
    assert backend.describe()["missing_files"] == ["base_models/motion_extractor.pth"]


def test_version_follows_the_checkpoint_files(tiny_liveportrait, tmp_path):
    import os
    import shutil

    folder = tmp_path / "liveportrait"
    shutil.copytree(tiny_liveportrait.folder, folder)
    (tmp_path / "models.toml").write_text('[expression]\nliveportrait = "./liveportrait"\n', encoding="utf-8")
    before = LivePortraitBackend(load_config(tmp_path / "models.toml")).version()
    assert before == LivePortraitBackend(load_config(tmp_path / "models.toml")).version()
    path = folder / CHECKPOINT_FILES["spade_generator"]
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert LivePortraitBackend(load_config(tmp_path / "models.toml")).version() != before


@pytest.mark.slow
def test_retargeting_eyes_consults_the_eye_model_with_the_drivers_ratio(backend, faces, monkeypatch):
    model = backend._loaded()
    inputs = []
    original = model.retarget_eyes
    monkeypatch.setattr(model, "retarget_eyes", lambda features: inputs.append(features) or original(features))
    target, target_face, driving, driving_face = faces
    eyes_only = Motion(regions=frozenset({"eyes"}), multipliers={}, relative=False, retarget=frozenset({"eyes"}))
    backend.animate(AnimateRequest(target, target_face, driving, driving_face, target, target_face, "astronaut", eyes_only))
    from framebridge.server.liveportrait.keypoints import eye_open_ratios

    assert len(inputs) == 1 and inputs[0].shape == (66,)
    np.testing.assert_allclose(inputs[0][63:65], eye_open_ratios(target_face.landmarks), rtol=1e-6)
    assert inputs[0][65] == pytest.approx(np.mean(eye_open_ratios(driving_face.landmarks)))


def test_the_op_passes_retarget_to_the_backend_and_checks_it():
    from framebridge.protocol.errors import InvalidParams
    from framebridge.server.expression.params import parse_params

    parsed = parse_params({"regions": ["eyes", "lips"], "retarget": ["eyes"]})
    assert parsed.motion.retarget == frozenset({"eyes"}) and parsed.fingerprint()["retarget"] == ["eyes"]
    assert parse_params({}).motion.retarget == frozenset()
    with pytest.raises(InvalidParams, match="nose"):
        parse_params({"retarget": ["nose"]})
    with pytest.raises(InvalidParams, match="does not move"):
        parse_params({"regions": ["pose"], "retarget": ["lips"]})
