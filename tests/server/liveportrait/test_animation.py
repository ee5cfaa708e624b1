"""The per-frame keypoint step: regions, stitching, retargeting and multipliers around hand-made networks."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.server.liveportrait.animation import FaceLandmarks, Networks, driven_keypoints, wanted_ratio
from framebridge.server.liveportrait.keypoints import ALL_REGIONS, EYE_KEYPOINTS, LIP_KEYPOINTS, FaceMotion, rotation_matrix, transform

from fixtures.liveportrait import dlib_face


def face(yaw=0.0, expression=0.0, scale=1.0, seed=0) -> FaceMotion:
    canonical = np.random.default_rng(seed).uniform(-0.5, 0.5, (21, 3))
    return FaceMotion(canonical, rotation_matrix(0, yaw, 0), np.full((21, 3), expression), np.zeros(3), scale)


def test_a_still_driver_without_networks_gives_back_the_source_keypoints():
    source, still = face(yaw=10, expression=0.05), face(yaw=-3, expression=0.2, seed=1)
    x_source, x_driven = driven_keypoints(source, still, still, ALL_REGIONS, {"expression": 2.0, "pose": 3.0}, relative=True)
    np.testing.assert_allclose(x_source, transform(source))
    np.testing.assert_allclose(x_driven, x_source, atol=1e-12)


def test_stitching_output_is_added_to_the_driven_keypoints_before_the_multiplier():
    calls = []

    def stitching(features):
        calls.append(features)
        delta = np.zeros(65)
        delta[63:] = [0.1, 0.0]
        return delta

    source, reference, driver = face(), face(seed=1), face(expression=0.1, seed=1)
    x_source, plain = driven_keypoints(source, driver, reference, ALL_REGIONS, {}, relative=True)
    _, stitched = driven_keypoints(source, driver, reference, ALL_REGIONS, {}, relative=True, networks=Networks(stitching=stitching))
    np.testing.assert_allclose(stitched - plain, np.tile([0.1, 0.0, 0.0], (21, 1)), atol=1e-12)
    np.testing.assert_allclose(calls[0][:63], x_source.ravel())
    _, doubled = driven_keypoints(source, driver, reference, ALL_REGIONS, {"expression": 2.0}, relative=True, networks=Networks(stitching=stitching))
    np.testing.assert_allclose(doubled - x_source, 2 * (stitched - x_source), atol=1e-12)


def test_lips_multiplier_scales_only_lip_keypoint_motion():
    source, reference, driver = face(), face(seed=1), face(expression=0.1, seed=1)
    x_source, once = driven_keypoints(source, driver, reference, ALL_REGIONS, {}, relative=True)
    _, lips_twice = driven_keypoints(source, driver, reference, ALL_REGIONS, {"lips": 2.0}, relative=True)
    lips = list(LIP_KEYPOINTS)
    others = [index for index in range(21) if index not in lips]
    np.testing.assert_allclose(lips_twice[lips] - x_source[lips], 2 * (once[lips] - x_source[lips]), atol=1e-12)
    np.testing.assert_allclose(lips_twice[others], once[others], atol=1e-12)


def test_pose_multiplier_scales_the_head_turn():
    source, reference, driver = face(), face(seed=1), face(yaw=10, seed=1)
    x_source, turned = driven_keypoints(source, driver, reference, frozenset({"pose"}), {"pose": 0.5}, relative=True)
    _, full = driven_keypoints(source, driver, reference, frozenset({"pose"}), {}, relative=True)
    np.testing.assert_allclose(turned - x_source, 0.5 * (full - x_source), atol=1e-12)


def test_wanted_ratio_scales_the_source_by_the_drivers_change_when_relative():
    assert wanted_ratio(0.3, 0.1, 0.2, relative=True) == pytest.approx(0.15)
    assert wanted_ratio(0.3, 0.1, 0.2, relative=False) == 0.1


def test_eye_retargeting_replaces_the_eyes_keypoint_motion_by_the_mlps_offsets():
    seen = []

    def eyes(features):
        seen.append(features)
        offsets = np.zeros((21, 3))
        offsets[list(EYE_KEYPOINTS), 1] = 0.05
        return offsets.ravel()

    source, reference, driver = face(), face(seed=1), face(expression=0.1, seed=1)
    landmarks = FaceLandmarks(dlib_face(eye_gap=3), dlib_face(eye_gap=1), dlib_face(eye_gap=2))
    x_source, x_driven = driven_keypoints(
        source, driver, reference, frozenset({"eyes"}), {}, relative=True, networks=Networks(eyes=eyes), retarget=frozenset({"eyes"}),
        landmarks=landmarks,
    )
    # The driver's eyes close to half their reference opening: the source's 0.3 is asked to become 0.15.
    np.testing.assert_allclose(seen[0][63:], [0.3, 0.3, 0.15], rtol=1e-5)
    expected = x_source.copy()
    expected[list(EYE_KEYPOINTS), 1] += 0.05
    np.testing.assert_allclose(x_driven, expected, atol=1e-12)


def test_retargeting_is_skipped_for_regions_not_moving():
    def lips(features):
        raise AssertionError("lips were not asked to move")

    source = face()
    landmarks = FaceLandmarks(dlib_face(), dlib_face(), dlib_face())
    _, x_driven = driven_keypoints(
        source, face(seed=1), face(seed=1), frozenset({"eyes"}), {}, relative=True, networks=Networks(lips=lips),
        retarget=frozenset({"lips"}), landmarks=landmarks,
    )
    np.testing.assert_allclose(x_driven, transform(source), atol=1e-12)


def test_retargeted_lips_do_not_also_take_the_drivers_lip_keypoints():
    def lips(features):
        return np.zeros(63)

    source, reference, driver = face(), face(seed=1), face(expression=0.1, seed=1)
    landmarks = FaceLandmarks(dlib_face(), dlib_face(), dlib_face())
    x_source, x_driven = driven_keypoints(
        source, driver, reference, ALL_REGIONS, {}, relative=True, networks=Networks(lips=lips), retarget=frozenset({"lips"}),
        landmarks=landmarks,
    )
    lips_at = list(LIP_KEYPOINTS)
    others = [index for index in range(21) if index not in lips_at]
    np.testing.assert_allclose(x_driven[lips_at], x_source[lips_at], atol=1e-12)
    np.testing.assert_allclose(x_driven[others] - x_source[others], 0.1, atol=1e-12)
