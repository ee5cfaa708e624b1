"""W, the warping module: dense 3D flow and occlusion from two keypoint sets, applied to the feature volume (torch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..architecture import WarpingShape
from .layers import ConvNormAct2d, Hourglass, coordinate_grid, gaussian_heatmaps

__all__ = ["DenseMotionNetwork", "WarpingNetwork"]

KEYPOINT_VARIANCE = 0.01


class DenseMotionNetwork(nn.Module):
    """Per-keypoint sparse motions and Gaussian heatmaps -> hourglass -> soft assignment mask and occlusion."""

    def __init__(self, shape: WarpingShape):
        super().__init__()
        dense = shape.dense_motion
        self.num_kp = shape.num_kp
        self.hourglass = Hourglass(dense.block_expansion, (shape.num_kp + 1) * (dense.compress + 1), dense.num_blocks, dense.max_features)
        self.mask = nn.Conv3d(self.hourglass.out_filters, shape.num_kp + 1, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(shape.reshape_channel, dense.compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(dense.compress, affine=True)
        self.occlusion = (
            nn.Conv2d(self.hourglass.out_filters * dense.reshape_depth, 1, kernel_size=7, padding=3) if shape.estimate_occlusion_map else None
        )

    def _sparse_motions(self, size: tuple[int, int, int], driving: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """(batch, 1 + K, d, h, w, 3): where each driving-space voxel samples the source, per keypoint (identity first)."""
        grid = coordinate_grid(*size, like=source)[None, None]
        per_keypoint = grid - driving[:, :, None, None, None, :] + source[:, :, None, None, None, :]
        identity = grid.expand(source.shape[0], 1, *grid.shape[2:])
        return torch.cat([identity, per_keypoint], dim=1)

    def forward(self, feature: torch.Tensor, driving: torch.Tensor, source: torch.Tensor) -> dict[str, torch.Tensor]:
        batch, _, depth, height, width = feature.shape
        feature = F.relu(self.norm(self.compress(feature)))
        count = self.num_kp + 1
        motions = self._sparse_motions((depth, height, width), driving, source)
        repeated = feature[:, None].expand(batch, count, *feature.shape[1:]).reshape(batch * count, -1, depth, height, width)
        deformed = F.grid_sample(repeated, motions.reshape(batch * count, depth, height, width, 3), align_corners=False)
        deformed = deformed.view(batch, count, -1, depth, height, width)
        heatmaps = gaussian_heatmaps(driving, (depth, height, width), KEYPOINT_VARIANCE) - gaussian_heatmaps(
            source, (depth, height, width), KEYPOINT_VARIANCE
        )
        heatmaps = torch.cat([torch.zeros_like(heatmaps[:, :1]), heatmaps], dim=1)[:, :, None]
        prediction = self.hourglass(torch.cat([heatmaps, deformed], dim=2).view(batch, -1, depth, height, width))
        mask = F.softmax(self.mask(prediction), dim=1)
        deformation = (motions.permute(0, 1, 5, 2, 3, 4) * mask[:, :, None]).sum(dim=1).permute(0, 2, 3, 4, 1)
        result = {"mask": mask, "deformation": deformation}
        if self.occlusion is not None:
            result["occlusion_map"] = torch.sigmoid(self.occlusion(prediction.reshape(batch, -1, height, width)))
        return result


class WarpingNetwork(nn.Module):
    """Feature volume + source and driving keypoints (N, K, 3) -> warped 2D features ``out`` (N, 256, 64, 64)."""

    def __init__(self, shape: WarpingShape):
        super().__init__()
        width = shape.block_expansion * 2**shape.num_down_blocks
        self.dense_motion_network = DenseMotionNetwork(shape)
        self.third = ConvNormAct2d(shape.max_features, width, leaky=True)
        self.fourth = nn.Conv2d(width, width, kernel_size=1)

    def forward(self, feature: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor) -> dict[str, torch.Tensor]:
        dense = self.dense_motion_network(feature, kp_driving, kp_source)
        warped = F.grid_sample(feature, dense["deformation"], align_corners=False)
        batch, channels, depth, height, width = warped.shape
        out = self.fourth(self.third(warped.reshape(batch, channels * depth, height, width)))
        occlusion = dense.get("occlusion_map")
        if occlusion is not None:
            out = out * occlusion
        return {"out": out, "deformation": dense["deformation"], "occlusion_map": occlusion}
