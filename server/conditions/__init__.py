"""ControlNet condition images, drawn from render passes or estimated from the beauty.

Each function takes canonical pass buffers (:mod:`framebridge.protocol.passes`) and
returns an image at the same resolution, (H, W) for depth, canny and lineart and
(H, W, 3) RGB for normal, segmentation and pose: float32 in 0..1 for depth,
float32 or uint8 for normal (its ``dtype``), uint8 for the drawn ones (canny,
lineart, segmentation, pose). The estimators for
plates without passes live in :mod:`.estimators` and load their models lazily.
"""

from .depth import DepthRange, depth_condition, measure_depth_range
from .edges import canny_condition, lineart_condition
from .normal import normal_condition
from .pose import pose_condition
from .segmentation import segment_colours, segmentation_condition

__all__ = [
    "DepthRange",
    "canny_condition",
    "depth_condition",
    "lineart_condition",
    "measure_depth_range",
    "normal_condition",
    "pose_condition",
    "segment_colours",
    "segmentation_condition",
]
