"""Joint projection and bone mappings, without Blender."""

import numpy as np
import pytest

from framebridge.blender_addon.joints import (
    COCO_JOINTS, PRESETS, BoneEnd, armature_joints, detect_preset, parse_mapping, project_points,
)
from framebridge.protocol.errors import InvalidParams


def perspective(focal_pixels: float, width: int, height: int, near: float = 0.1, far: float = 100.0) -> np.ndarray:
    """An OpenGL projection for a pinhole camera with the focal length in pixels, principal point centred."""
    return np.array([
        [2 * focal_pixels / width, 0, 0, 0],
        [0, 2 * focal_pixels / height, 0, 0],
        [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)],
        [0, 0, -1, 0],
    ])


def test_point_on_the_optical_axis_lands_in_the_frame_centre():
    projected = project_points([[0, 0, -5]], np.eye(4), perspective(100, 64, 48), 64, 48)
    np.testing.assert_allclose(projected, [[32, 24, 1]])


def test_pinhole_offsets_are_right_and_down_in_pixels():
    projected = project_points([[1, 0.5, -10], [-1, -0.5, -10]], np.eye(4), perspective(100, 64, 48), 64, 48)
    np.testing.assert_allclose(projected[:, :2], [[32 + 10, 24 - 5], [32 - 10, 24 + 5]])
    assert projected[:, 2].tolist() == [1, 1]


def test_points_behind_or_outside_the_camera_are_invisible():
    projected = project_points([[0, 0, 5], [100, 0, -1]], np.eye(4), perspective(100, 64, 48), 64, 48)
    assert projected[:, 2].tolist() == [0, 0]


def test_view_matrix_moves_the_world_into_camera_space():
    camera_world = np.eye(4)
    camera_world[:3, 3] = [2, 0, 0]
    projected = project_points([[2, 0, -5]], np.linalg.inv(camera_world), perspective(100, 64, 48), 64, 48)
    np.testing.assert_allclose(projected, [[32, 24, 1]])


def test_armature_joints_fill_mapped_joints_and_leave_the_rest_invisible():
    bones = {"neck": {"head": np.array([0, 0, -5.0]), "tail": np.array([0, 0.5, -5.0])}}
    joints = armature_joints(bones, PRESETS["SIMPLE"], np.eye(4), perspective(100, 64, 48), 64, 48)
    assert joints.shape == (18, 3) and joints.dtype == np.float32
    np.testing.assert_allclose(joints[COCO_JOINTS.index("neck")], [32, 24, 1])
    assert joints[COCO_JOINTS.index("nose")].tolist() == [0, 0, 0]


def test_bone_names_may_hold_colons():
    assert BoneEnd.parse("mixamorig:Neck:tail") == BoneEnd("mixamorig:Neck", "tail")
    assert BoneEnd.parse("mixamorig:Neck") == BoneEnd("mixamorig:Neck", "head")


def test_user_mapping_is_checked_joint_by_joint():
    assert parse_mapping('{"neck": "Spine2:tail"}') == {"neck": BoneEnd("Spine2", "tail")}
    with pytest.raises(InvalidParams, match="unknown joints"):
        parse_mapping('{"tail_tip": "Tail"}')
    with pytest.raises(InvalidParams, match="not valid JSON"):
        parse_mapping("neck = Spine2")


def test_detect_preset_picks_the_rig_family():
    assert detect_preset({"mixamorig:Neck", "mixamorig:LeftArm", "mixamorig:Hips"}) == "MIXAMO"
    assert detect_preset({"DEF-spine.004", "DEF-hand.L"}) == "RIGIFY"
    assert detect_preset({"Bone"}) is None


def test_every_preset_names_only_coco_joints():
    for mapping in PRESETS.values():
        assert set(mapping) <= set(COCO_JOINTS)
