"""Canonical buffer names for a frame's passes, shared by plugins and server.

Host files name passes their own way (Blender ``ViewLayer.Depth.Z``, Nuke
``depth.Z``); the EXR layer maps them onto these names, and only these travel.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

BEAUTY = "beauty"                    # (H, W, 3|4) scene-linear RGB(A), colour premultiplied by alpha as renders write it
DEPTH = "depth"                      # (H, W) distance along the camera axis, scene units
NORMAL = "normal"                    # (H, W, 3) world-space unit normals
MOTION_BACKWARD = "motion_backward"  # (H, W, 2) pixels (x right, y down) to this pixel's place in the previous frame
MOTION_FORWARD = "motion_forward"    # (H, W, 2) pixels (x right, y down) to this pixel's place in the next frame
OBJECT_INDEX = "object_index"        # (H, W) integer ids stored as float32
MATERIAL_INDEX = "material_index"    # (H, W) integer ids stored as float32
POSE_JOINTS = "pose_joints"          # (people, 18, 3) float32: COCO-18 x, y in pixels, visibility 0..1
CAMERA_MATRIX = "camera_matrix"      # (4, 4) float32 world-from-camera matrix of the frame
AUDIO = "audio"                      # (samples,) float32 mono PCM; sample rate in the job params

ALL = (BEAUTY, DEPTH, NORMAL, MOTION_BACKWARD, MOTION_FORWARD, OBJECT_INDEX, MATERIAL_INDEX, POSE_JOINTS, CAMERA_MATRIX, AUDIO)

# Cycles writes 1e10 where a ray hits nothing: depth this far, non-finite or <= 0 is background.
BACKGROUND_DEPTH = 1e9


def shot_depth_range(depths: Iterable[np.ndarray]) -> list[float] | None:
    """``[near, far]``: the nearest and farthest foreground depth over all ``depths``; None if none has foreground.

    Hosts with every frame on disk send this as ``shot["depth_range"]`` so the
    depth condition is normalised over the whole shot, not the first frame.
    Frames are read one at a time. A single foreground distance gets a far just
    beyond it, so ``near < far`` always holds.
    """
    near, far = np.inf, -np.inf
    for depth in depths:
        values = np.asarray(depth)
        foreground = values[np.isfinite(values) & (values > 0) & (values < BACKGROUND_DEPTH)]
        if foreground.size:
            near, far = min(near, float(foreground.min())), max(far, float(foreground.max()))
    if near > far:
        return None
    return [near, far if far > near else near * 1.001 + 1e-6]
