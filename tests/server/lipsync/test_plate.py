"""The plate backends on scikit-image's astronaut: cue shapes move the mouth, nothing outside the matte changes."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.protocol.errors import InvalidParams, ModelNotFound
from framebridge.server.faces import FaceTracker
from framebridge.server.faces.regions import EYES
from framebridge.server.lipsync.mouth import inner_gap
from framebridge.server.lipsync.plate import (
    MouthWarpBackend,
    PlateFrame,
    Wav2LipBackend,
    plate_backend,
)
from framebridge.server.models import load_config
from fixtures.lipsync import save_official_checkpoint

SILENCE = np.zeros(16000, np.float32)


@pytest.fixture(scope="module")
def plate(astronaut) -> np.ndarray:
    return astronaut.astype(np.float32) / 255.0


def redetected(image: np.ndarray, face_provider) -> np.ndarray:
    face = FaceTracker(face_provider).find(image)
    assert face is not None
    return face.landmarks


def run_cpu(frames: list[tuple[np.ndarray, dict[str, float]]]) -> list:
    backend = MouthWarpBackend()
    backend.start(SILENCE, 24.0)
    return [backend.process(PlateFrame(image, 1001 + index, index / 24.0, weights))
            for index, (image, weights) in enumerate(frames)]


def test_a_d_cue_opens_the_mouth(plate, astronaut_face, face_provider):
    (result,) = run_cpu([(plate, {"D": 1.0})])
    assert result.face_found
    before = inner_gap(astronaut_face.landmarks)
    after = inner_gap(redetected(result.image, face_provider))
    assert after > before + 3.0
    assert inner_gap(result.landmarks) > after - 8.0  # the edited landmarks say what was asked
    chin_drop = redetected(result.image, face_provider)[8, 1] - astronaut_face.landmarks[8, 1]
    assert chin_drop > 2.0


def test_an_a_cue_closes_the_mouth(plate, astronaut_face, face_provider):
    (result,) = run_cpu([(plate, {"A": 1.0})])
    before = inner_gap(astronaut_face.landmarks)
    assert before > 5.0
    assert inner_gap(redetected(result.image, face_provider)) < 0.4 * before


def test_blended_weights_open_between_their_shapes(plate, face_provider):
    gaps = [inner_gap(redetected(run_cpu([(plate, weights)])[0].image, face_provider))
            for weights in ({"A": 1.0}, {"A": 0.5, "D": 0.5}, {"D": 1.0})]
    assert gaps[0] < gaps[1] < gaps[2]


def test_pixels_outside_the_feathered_matte_are_bit_identical(plate, astronaut_face, face_provider):
    (result,) = run_cpu([(plate, {"D": 1.0})])
    outside = result.matte == 0
    assert 0.9 < outside.mean() < 1.0
    assert np.array_equal(result.image[outside], plate[outside])
    assert not np.array_equal(result.image[~outside], plate[~outside])
    soft = (result.matte > 0) & (result.matte < 1)
    assert soft.sum() > 0.3 * (result.matte > 0).sum()  # a feathered edge, not a hard cut
    eyes = astronaut_face.landmarks[list(EYES)].astype(int)
    assert np.all(result.matte[eyes[:, 1], eyes[:, 0]] == 0)
    assert result.image.dtype == np.float32 and result.image.shape == plate.shape


def test_a_frame_without_a_face_passes_through_and_is_named(plate):
    empty = np.full((240, 320, 3), 0.5, np.float32)
    first, second, third = run_cpu([(plate, {"D": 1.0}), (empty, {"D": 1.0}), (plate, {"A": 1.0})])
    assert first.face_found and third.face_found
    assert not second.face_found and second.landmarks is None
    assert second.image is empty or np.array_equal(second.image, empty)
    assert not second.matte.any() and second.matte.shape == (240, 320)


def test_opening_a_shut_mouth_borrows_the_plates_own_teeth(plate, face_provider):
    shut = run_cpu([(plate, {"A": 1.0})])[0].image
    with_donor = run_cpu([(plate, {"X": 1.0}), (shut, {"D": 1.0})])[1]
    without_donor = run_cpu([(shut, {"D": 1.0})])[0]
    inner = with_donor.landmarks[60:68].mean(0).astype(int)
    patch = (slice(inner[1] - 2, inner[1] + 3), slice(inner[0] - 6, inner[0] + 7))
    teeth = with_donor.image[patch].mean()
    dark = without_donor.image[patch].mean()
    assert teeth > 0.6  # the astronaut's teeth are bright
    assert dark < 0.35  # no open frame seen yet: a dark inside, no invented teeth
    assert inner_gap(redetected(with_donor.image, face_provider)) > inner_gap(redetected(shut, face_provider)) + 3.0


def test_process_before_start_is_refused_and_unknown_backends_named(plate):
    with pytest.raises(RuntimeError):
        MouthWarpBackend().process(PlateFrame(plate, 1, 0.0, {"X": 1.0}))
    with pytest.raises(InvalidParams, match="unknown plate backend"):
        plate_backend("latentsync")
    assert isinstance(plate_backend(None), MouthWarpBackend)
    description = MouthWarpBackend().describe()
    assert description["available"] and description["name"] == "cpu"


@pytest.fixture()
def wav2lip_config(tmp_path):
    save_official_checkpoint(tmp_path / "wav2lip" / "wav2lip_gan.pth", seed=4)
    config_file = tmp_path / "models.toml"
    config_file.write_text('[lipsync.wav2lip]\ncheckpoint = "./wav2lip"\n', encoding="utf-8")
    return load_config(config_file)


def test_wav2lip_backend_redraws_the_lower_face_with_a_soft_paste(plate, wav2lip_config):
    rng = np.random.default_rng(0)
    backend = Wav2LipBackend(wav2lip_config)
    backend.check()
    assert "wav2lip_gan.pth" in backend.version()
    backend.start(rng.normal(0, 0.1, 16000).astype(np.float32), 25.0)
    result = backend.process(PlateFrame(plate, 1, 0.2, {"D": 1.0}))
    assert result.face_found
    outside = result.matte == 0
    assert np.array_equal(result.image[outside], plate[outside])
    assert np.abs(result.image[~outside] - plate[~outside]).max() > 0.05
    rows, columns = np.nonzero(result.matte)
    box_rows, box_columns = slice(rows.min(), rows.max() + 1), slice(columns.min(), columns.max() + 1)
    edges = np.concatenate([result.matte[box_rows, box_columns][[0, -1]].ravel(),
                            result.matte[box_rows, box_columns][:, [0, -1]].ravel()])
    assert edges.max() < 0.1  # faded out before any box edge: no hard rectangle
    assert result.matte.max() > 0.99
    mouth = result.landmarks[48:68].mean(0).astype(int)
    assert result.matte[mouth[1], mouth[0]] > 0.99
    eyes = result.landmarks[36:48].astype(int)
    assert np.all(result.matte[eyes[:, 1], eyes[:, 0]] == 0)


def test_wav2lip_box_follows_the_face_without_lag(plate, wav2lip_config):
    """A face jumping sideways: the crop is centred on this frame's face at once (no forward-averaged box)."""
    import cv2

    moved = cv2.warpAffine(plate, np.float32([[1, 0, 40], [0, 1, 0]]), (512, 512), borderMode=cv2.BORDER_REFLECT)
    backend = Wav2LipBackend(wav2lip_config)
    backend.start(np.zeros(8000, np.float32), 25.0)
    first = backend.process(PlateFrame(plate, 1, 0.0, {"X": 1.0}))
    second = backend.process(PlateFrame(moved, 2, 0.04, {"X": 1.0}))
    shift = np.nonzero(second.matte)[1].mean() - np.nonzero(first.matte)[1].mean()
    assert 35.0 < shift < 45.0


def test_wav2lip_without_a_checkpoint_names_the_file_and_an_empty_track_is_refused(tmp_path, wav2lip_config):
    config_file = tmp_path / "empty.toml"
    config_file.write_text("", encoding="utf-8")
    backend = Wav2LipBackend(load_config(config_file))
    with pytest.raises(ModelNotFound, match="lipsync.wav2lip.checkpoint"):
        backend.check()
    description = backend.describe()
    assert not description["available"] and "lipsync.wav2lip" in description["missing"][0]
    with pytest.raises(InvalidParams, match="no samples"):
        Wav2LipBackend(wav2lip_config).start(np.zeros(0, np.float32), 25.0)
