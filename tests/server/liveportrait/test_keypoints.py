"""LivePortrait's keypoint math against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.server.liveportrait.keypoints import (
    ALL_REGIONS,
    EYE_KEYPOINTS,
    LIP_KEYPOINTS,
    FaceMotion,
    apply_multipliers,
    apply_stitching,
    bins_to_degrees,
    drive,
    euler_angles,
    eye_open_ratios,
    eye_retarget_input,
    keypoint_multipliers,
    lip_open_ratio,
    lip_retarget_input,
    rotation_matrix,
    stitching_input,
    transform,
)

from fixtures.liveportrait import dlib_face


def one_hot_logits(*bins: int) -> np.ndarray:
    logits = np.full(66, -1e4)
    logits[list(bins)] = 50.0
    return logits


def motion(pitch=0.0, yaw=0.0, roll=0.0, expression=None, translation=(0.0, 0.0, 0.0), scale=1.0, seed=0) -> FaceMotion:
    canonical = np.random.default_rng(seed).uniform(-0.5, 0.5, (21, 3))
    return FaceMotion(
        canonical=canonical,
        rotation=rotation_matrix(pitch, yaw, roll),
        expression=np.zeros((21, 3)) if expression is None else np.asarray(expression, float),
        translation=np.asarray(translation, float),
        scale=scale,
    )


def rotation_angle(rotation: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1))))


@pytest.mark.parametrize(("bins", "degrees"), [((0,), -97.5), ((32,), -1.5), ((33,), 1.5), ((65,), 97.5), ((10, 20), -52.5)])
def test_bins_to_degrees_is_three_times_the_expected_bin_minus_97_5(bins, degrees):
    assert bins_to_degrees(one_hot_logits(*bins)) == pytest.approx(degrees)


def test_uniform_bins_mean_a_frontal_angle_and_batches_work_on_the_last_axis():
    batch = np.stack([np.zeros(66), one_hot_logits(40)])
    np.testing.assert_allclose(bins_to_degrees(batch), [0.0, 22.5])


def test_rotation_of_a_row_vector_about_each_axis_by_90_degrees():
    np.testing.assert_allclose(rotation_matrix(0, 0, 0), np.eye(3))
    # R = Ry(90)^T = [[0, 0, -1], [0, 1, 0], [1, 0, 0]]: x turns to -z.
    np.testing.assert_allclose(np.array([1, 0, 0]) @ rotation_matrix(0, 90, 0), [0, 0, -1], atol=1e-12)
    # R = Rx(90)^T: y turns to +z.
    np.testing.assert_allclose(np.array([0, 1, 0]) @ rotation_matrix(90, 0, 0), [0, 0, 1], atol=1e-12)
    # R = Rz(90)^T: x turns to +y.
    np.testing.assert_allclose(np.array([1, 0, 0]) @ rotation_matrix(0, 0, 90), [0, 1, 0], atol=1e-12)


def test_rotation_is_the_transpose_of_roll_yaw_pitch_applied_in_that_order():
    pitch, yaw, roll = np.radians([30.0, -20.0, 10.0])
    about_x = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    about_y = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    about_z = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    np.testing.assert_allclose(rotation_matrix(30, -20, 10), (about_z @ about_y @ about_x).T)


@pytest.mark.parametrize("angles", [(30.0, -20.0, 10.0), (-45.0, 60.0, -80.0), (0.0, 0.0, 0.0), (5.0, -89.0, 170.0)])
def test_euler_angles_recover_the_angles_a_rotation_was_made_from(angles):
    rotation = rotation_matrix(*angles)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(euler_angles(rotation), angles, atol=1e-9)


def test_transform_scales_rotated_canonical_points_plus_expression_and_drops_tz():
    canonical = np.zeros((21, 3))
    canonical[0] = [1.0, 0.0, 0.0]
    face = FaceMotion(canonical, rotation_matrix(0, 0, 90), np.full((21, 3), 0.1), np.array([1.0, 2.0, 3.0]), 2.0)
    keypoints = transform(face)
    # 2 * ((1, 0, 0) R_roll90 + 0.1) + (1, 2, 0) = 2 * (0.1, 1.1, 0.1) + (1, 2, 0)
    np.testing.assert_allclose(keypoints[0], [1.2, 4.2, 0.2], atol=1e-12)
    np.testing.assert_allclose(keypoints[1], [1.2, 2.2, 0.2], atol=1e-12)


def test_from_extractor_reads_the_raw_heads():
    outputs = {
        "kp": np.arange(63, dtype=float) / 100, "exp": np.ones(63), "t": np.array([0.1, 0.2, 0.3]), "scale": np.array([1.5]),
        "pitch": one_hot_logits(33), "yaw": one_hot_logits(36), "roll": one_hot_logits(30),
    }
    face = FaceMotion.from_extractor(outputs)
    np.testing.assert_allclose(euler_angles(face.rotation), [1.5, 10.5, -7.5], atol=1e-9)
    assert face.canonical.shape == face.expression.shape == (21, 3) and face.canonical[1, 0] == 0.03 and face.scale == 1.5


def test_a_driver_that_does_not_move_leaves_the_source_unchanged():
    source = motion(pitch=12, yaw=-7, roll=3, expression=np.full((21, 3), 0.02), translation=(0.1, -0.05, 0.3), scale=1.3)
    still = motion(pitch=-5, yaw=20, roll=1, expression=np.full((21, 3), -0.04), translation=(0.2, 0.1, 0.0), scale=0.9, seed=1)
    driven = drive(source, still, still, ALL_REGIONS, relative=True)
    np.testing.assert_allclose(transform(driven), transform(source), atol=1e-12)


def test_a_driver_turning_10_degrees_turns_the_source_10_degrees():
    source = motion(pitch=15, yaw=-25, roll=5, scale=1.1)
    reference = motion(yaw=3.0, seed=1)
    turned = motion(yaw=13.0, seed=1)
    driven = drive(source, turned, reference, ALL_REGIONS, relative=True)
    assert rotation_angle(driven.rotation @ source.rotation.T) == pytest.approx(10.0)
    frontal = drive(motion(), turned, reference, ALL_REGIONS, relative=True)
    assert euler_angles(frontal.rotation) == pytest.approx((0.0, 10.0, 0.0), abs=1e-9)
    # A keypoint on the x axis of a frontal source swings 10 degrees towards -z.
    np.testing.assert_allclose(np.array([1.0, 0, 0]) @ frontal.rotation, [np.cos(np.radians(10)), 0, -np.sin(np.radians(10))], atol=1e-12)


def test_relative_driving_adds_the_drivers_change_since_the_reference():
    source = motion(expression=np.full((21, 3), 0.1), translation=(0.1, 0.2, 0.3), scale=1.2)
    reference = motion(expression=np.full((21, 3), 0.05), translation=(0.0, 0.1, 0.0), scale=1.0)
    driver = motion(expression=np.full((21, 3), 0.07), translation=(0.3, 0.0, 0.5), scale=1.1)
    driven = drive(source, driver, reference, ALL_REGIONS, relative=True)
    np.testing.assert_allclose(driven.expression, 0.12)
    np.testing.assert_allclose(driven.translation, [0.4, 0.1, 0.8])
    assert driven.scale == pytest.approx(1.32)
    np.testing.assert_allclose(driven.canonical, source.canonical)


def test_absolute_driving_takes_the_drivers_pose_and_the_published_expression_subset():
    source = motion(yaw=20, expression=np.zeros((21, 3)), translation=(0.1, 0.0, 0.0), scale=1.2)
    driver = motion(yaw=-10, expression=np.ones((21, 3)), translation=(0.5, 0.5, 0.5), scale=3.0)
    driven = drive(source, driver, motion(), ALL_REGIONS, relative=False)
    np.testing.assert_allclose(driven.rotation, driver.rotation)
    np.testing.assert_allclose(driven.translation, driver.translation)
    assert driven.scale == 1.2
    np.testing.assert_allclose(driven.expression[[0, 7, 10]], 0.0)
    np.testing.assert_allclose(driven.expression[[1, 2, 6, 11, 20]], 1.0)
    np.testing.assert_allclose(driven.expression[3], [0, 1, 0])
    np.testing.assert_allclose(driven.expression[9], [0, 1, 1])


@pytest.mark.parametrize(("regions", "moved"), [({"lips"}, LIP_KEYPOINTS), ({"eyes"}, EYE_KEYPOINTS), ({"lips", "eyes"}, LIP_KEYPOINTS + EYE_KEYPOINTS)])
@pytest.mark.parametrize("relative", [True, False])
def test_lips_and_eyes_regions_move_only_their_keypoints_and_not_the_head(regions, moved, relative):
    source = motion(yaw=5, expression=np.zeros((21, 3)), scale=1.0)
    driver = motion(yaw=30, expression=np.ones((21, 3)), translation=(0.3, 0.3, 0.0), scale=2.0)
    driven = drive(source, driver, motion(), frozenset(regions), relative=relative)
    changed = sorted(np.flatnonzero(np.abs(driven.expression).sum(1)))
    assert changed == sorted(moved)
    np.testing.assert_allclose(driven.rotation, source.rotation)
    np.testing.assert_allclose(driven.translation, source.translation)
    assert driven.scale == source.scale


def test_pose_region_moves_the_head_and_keeps_expression_and_scale():
    source = motion(expression=np.full((21, 3), 0.3), scale=1.0)
    driver = motion(yaw=10, expression=np.ones((21, 3)), translation=(0.2, 0.0, 0.0), scale=2.0)
    driven = drive(source, driver, motion(), frozenset({"pose"}), relative=True)
    np.testing.assert_allclose(driven.expression, 0.3)
    assert euler_angles(driven.rotation)[1] == pytest.approx(10.0)
    np.testing.assert_allclose(driven.translation, [0.2, 0.0, 0.0])
    assert driven.scale == 1.0


def test_expression_region_moves_every_keypoint_but_not_the_head():
    source = motion(yaw=5, scale=1.0)
    driver = motion(yaw=30, expression=np.full((21, 3), 0.2), scale=2.0)
    driven = drive(source, driver, motion(), frozenset({"expression"}), relative=True)
    np.testing.assert_allclose(driven.expression, 0.2)
    np.testing.assert_allclose(driven.rotation, source.rotation)
    assert driven.scale == 1.0


def test_a_single_multiplier_scales_the_whole_motion_from_the_source():
    source = np.zeros((21, 3))
    posed = np.full((21, 3), 0.1)
    driven = np.full((21, 3), 0.3)
    np.testing.assert_allclose(apply_multipliers(source, posed, driven, 2.0, np.full(21, 2.0)), 0.6)
    np.testing.assert_allclose(apply_multipliers(source, posed, driven, 0.0, np.zeros(21)), 0.0)
    np.testing.assert_allclose(apply_multipliers(source, posed, driven, 1.0, np.ones(21)), driven)


def test_pose_and_face_multipliers_scale_their_own_share():
    source, posed, driven = np.zeros((21, 3)), np.full((21, 3), 0.1), np.full((21, 3), 0.3)
    # head share 0.1 kept, face share 0.2 doubled: 0.1 + 0.4
    np.testing.assert_allclose(apply_multipliers(source, posed, driven, 1.0, np.full(21, 2.0)), 0.5)
    # head share halved, face share kept: 0.05 + 0.2
    np.testing.assert_allclose(apply_multipliers(source, posed, driven, 0.5, np.ones(21)), 0.25)


def test_keypoint_multipliers_take_lips_and_eyes_factors_at_their_keypoints():
    factors = keypoint_multipliers({"expression": 0.5, "lips": 2.0})
    assert factors[6] == factors[20] == 2.0
    assert factors[11] == factors[0] == 0.5
    np.testing.assert_allclose(keypoint_multipliers({}), 1.0)


def test_stitching_adds_keypoint_offsets_and_a_shared_xy_shift():
    driven = np.zeros((21, 3))
    delta = np.zeros(65)
    delta[3:6] = [0.01, 0.02, 0.03]
    delta[63:] = [0.1, -0.2]
    stitched = apply_stitching(driven, delta)
    np.testing.assert_allclose(stitched[0], [0.1, -0.2, 0.0])
    np.testing.assert_allclose(stitched[1], [0.11, -0.18, 0.03])
    assert stitching_input(np.zeros((21, 3)), np.ones((21, 3))).tolist() == [0.0] * 63 + [1.0] * 63


def test_open_ratios_are_gap_over_width():
    assert eye_open_ratios(dlib_face(eye_gap=3, eye_width=10)) == pytest.approx((0.3, 0.3), rel=1e-5)
    assert lip_open_ratio(dlib_face(lip_gap=5, mouth_width=20)) == pytest.approx(0.25, rel=1e-5)
    assert lip_open_ratio(dlib_face(lip_gap=0)) == 0.0


def test_retargeting_inputs_join_keypoints_and_ratios():
    keypoints = np.ones((21, 3))
    assert eye_retarget_input(keypoints, (0.3, 0.25), 0.1).tolist() == [1.0] * 63 + [0.3, 0.25, 0.1]
    assert lip_retarget_input(keypoints, 0.2, 0.0).tolist() == [1.0] * 63 + [0.2, 0.0]
