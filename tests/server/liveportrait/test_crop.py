"""The face crop LivePortrait sees and the oval it pastes back through."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.server.liveportrait.crop import DRIVING_CROP, SOURCE_CROP, Window, crop_image, face_crop, image_window, oval_matte, to_image

from fixtures.liveportrait import face_landmarks


def similarity(points: np.ndarray, angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    turn = np.radians(angle)
    matrix = scale * np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    return points @ matrix.T + np.asarray(shift)


def test_the_crop_is_the_landmarks_extent_times_the_scale_moved_up_by_the_shift():
    landmarks = face_landmarks()
    crop = face_crop(landmarks, 256, SOURCE_CROP)
    inside = crop.points_to_crop(landmarks)
    extent = inside.max(0) - inside.min(0)
    assert extent.max() == pytest.approx(256 / 2.3)
    # The landmarks' box centre sits below the crop centre by 0.125 of the crop.
    centre = (inside.max(0) + inside.min(0)) / 2
    np.testing.assert_allclose(centre, [127.5, 127.5 + 0.125 * 256], atol=1e-9)
    driving = face_crop(landmarks, 256, DRIVING_CROP).points_to_crop(landmarks)
    assert (driving.max(0) - driving.min(0)).max() == pytest.approx(256 / 2.2)


def test_the_crop_follows_the_face_through_rotation_scale_and_shift():
    landmarks = face_landmarks()
    moved = similarity(landmarks, 25.0, 1.7, (40.0, -12.0))
    np.testing.assert_allclose(
        face_crop(moved, 256, SOURCE_CROP).points_to_crop(moved), face_crop(landmarks, 256, SOURCE_CROP).points_to_crop(landmarks), atol=1e-9
    )


def test_crop_and_paste_back_round_trip_the_face_pixels():
    rng = np.random.default_rng(0)
    image = cv2_smooth(rng.random((300, 320, 3)).astype(np.float32))
    crop = face_crop(similarity(face_landmarks(), 10, 2.0, (60, 40)), 256, SOURCE_CROP)
    back = to_image(crop_image(image, crop), crop, Window(0, 0, 320, 300))
    centre = crop.points_to_image(np.array([[128.0, 128.0]]))[0].astype(int)
    window = (slice(centre[1] - 20, centre[1] + 20), slice(centre[0] - 20, centre[0] + 20))
    assert np.abs(back[window] - image[window]).max() < 0.02


def test_resized_crop_keeps_pixel_centres_aligned():
    crop = face_crop(face_landmarks(), 256, SOURCE_CROP)
    point = np.array([[50.0, 60.0]])
    np.testing.assert_allclose(crop.resized(512).points_to_crop(point), (crop.points_to_crop(point) + 0.5) * 2 - 0.5)


@pytest.mark.parametrize("feather", [0.0, 0.1, 0.5, 10.0])
def test_the_oval_matte_is_one_over_the_face_and_zero_at_the_crop_border(feather):
    matte = oval_matte(256, feather)
    assert matte[0].max() == matte[-1].max() == matte[:, 0].max() == matte[:, -1].max() == 0.0
    landmarks = face_crop(face_landmarks(), 256, SOURCE_CROP).points_to_crop(face_landmarks())
    inner = landmarks[17:68]  # brows, nose, eyes and mouth
    assert matte[inner[:, 1].round().astype(int), inner[:, 0].round().astype(int)].min() == 1.0


def test_a_wider_feather_widens_the_soft_edge():
    assert ((oval_matte(256, 0.3) > 0) & (oval_matte(256, 0.3) < 1)).sum() > ((oval_matte(256, 0.05) > 0) & (oval_matte(256, 0.05) < 1)).sum()


def cv2_smooth(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image, (0, 0), 6)


def test_the_window_holds_every_pixel_the_crop_reaches_and_places_the_same_pixels():
    rng = np.random.default_rng(1)
    crop = face_crop(similarity(face_landmarks(), 20, 1.5, (50, 30)), 256, SOURCE_CROP)
    square = rng.random((256, 256)).astype(np.float32) + 0.1
    whole = to_image(square, crop, Window(0, 0, 400, 350))
    window = image_window(crop, 350, 400)
    assert whole[window.rows, window.columns].sum() == pytest.approx(whole.sum())
    np.testing.assert_array_equal(to_image(square, crop, window), whole[window.rows, window.columns])
    assert image_window(crop, 100, 120) == Window(window.x0, window.y0, min(window.x1, 120), min(window.y1, 100))
