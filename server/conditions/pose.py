"""Pose condition: OpenPose-style skeleton images from COCO-18 joints the host projected.

The host (e.g. Blender from an armature) sends ``pose_joints`` (people, 18, 3):
x, y in pixels of the plate (x right, y down) and a visibility 0..1. The image is
drawn the way the OpenPose ControlNets were trained: black background, the 17
standard limbs as ellipses in OpenPose's colours at 60 % brightness, and each
joint as a disc in its own colour.
"""

from __future__ import annotations

import numpy as np

from framebridge.protocol.errors import InvalidParams

__all__ = ["JOINT_COLOURS", "LIMBS", "MAX_JOINT_OFFSET", "pose_condition"]

# COCO-18 joints: nose, neck, right shoulder/elbow/wrist, left shoulder/elbow/wrist,
# right hip/knee/ankle, left hip/knee/ankle, right eye, left eye, right ear, left ear.
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
# OpenPose's colour for limb i and joint i (RGB): a hue wheel from red through green and blue to pink.
JOINT_COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)
# OpenCV draws in int32 fixed point: visible joints further off than this (pixels) are refused, not wrapped.
MAX_JOINT_OFFSET = 2**20


def pose_condition(joints: np.ndarray, height: int, width: int, threshold: float = 0.3, line_width: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 OpenPose image; joints with visibility <= ``threshold`` are not drawn.

    ``line_width`` defaults to 4 pixels per 512 of the shorter side (OpenPose's
    stick width at ControlNet's training size).
    """
    import cv2

    joints = np.asarray(joints, dtype=np.float32)
    if joints.ndim != 3 or joints.shape[1:] != (18, 3):
        raise InvalidParams(f"pose_joints must be (people, 18, 3) COCO-18 x, y, visibility; got shape {joints.shape}")
    visible_coordinates = joints[..., :2][np.isfinite(joints).all(axis=2) & (joints[..., 2] > threshold)]
    if visible_coordinates.size and np.abs(visible_coordinates).max() > MAX_JOINT_OFFSET:
        raise InvalidParams(
            f"visible pose_joints x, y must be within -{MAX_JOINT_OFFSET}..{MAX_JOINT_OFFSET} pixels, got {float(np.abs(visible_coordinates).max()):g}",
            fix="give joints the host could not project a visibility of 0",
        )
    stick = line_width or max(1, round(4 * min(height, width) / 512))
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    # Sub-pixel drawing: OpenCV takes integer coordinates scaled by 2**shift.
    shift, scale = 4, 16.0
    for person in joints:
        visible = np.isfinite(person).all(axis=1) & (person[:, 2] > threshold)
        for limb, (start, end) in enumerate(LIMBS):
            if not (visible[start] and visible[end]):
                continue
            (x0, y0), (x1, y1) = person[start, :2], person[end, :2]
            length = float(np.hypot(x1 - x0, y1 - y0))
            angle = float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))
            centre = (int(round((x0 + x1) / 2 * scale)), int(round((y0 + y1) / 2 * scale)))
            axes = (int(round(length / 2 * scale)), int(round(stick * scale)))
            colour = tuple(int(channel * 0.6) for channel in JOINT_COLOURS[limb])
            cv2.ellipse(canvas, centre, axes, angle, 0, 360, colour, thickness=-1, lineType=cv2.LINE_AA, shift=shift)
        for index in np.flatnonzero(visible):
            x, y = person[index, :2]
            cv2.circle(canvas, (int(round(x * scale)), int(round(y * scale))), int(round(stick * scale)), JOINT_COLOURS[index], thickness=-1, lineType=cv2.LINE_AA, shift=shift)
    return canvas
