"""M, the motion extractor: a ConvNeXt V2 backbone with keypoint, pose, expression, translation and scale heads (torch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..architecture import MotionShape
from .layers import ChannelsFirstLayerNorm, GlobalResponseNorm

__all__ = ["MotionExtractor"]

HEADS = ("kp", "pitch", "yaw", "roll", "t", "exp", "scale")


class _ConvNeXtBlock(nn.Module):
    """7x7 depthwise convolution, layer norm, 4x pointwise MLP with GELU and GRN, residual."""

    def __init__(self, features: int):
        super().__init__()
        self.dwconv = nn.Conv2d(features, features, kernel_size=7, padding=3, groups=features)
        self.norm = nn.LayerNorm(features, eps=1e-6)
        self.pwconv1 = nn.Linear(features, 4 * features)
        self.grn = GlobalResponseNorm(4 * features)
        self.pwconv2 = nn.Linear(4 * features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)


class _ConvNeXtV2(nn.Module):
    """The backbone and its seven linear heads; outputs raw logits and values."""

    def __init__(self, shape: MotionShape):
        super().__init__()
        dims = shape.dims
        stem = nn.Sequential(nn.Conv2d(shape.image_channel, dims[0], kernel_size=4, stride=4), ChannelsFirstLayerNorm(dims[0]))
        downsampling = [
            nn.Sequential(ChannelsFirstLayerNorm(dims[index]), nn.Conv2d(dims[index], dims[index + 1], kernel_size=2, stride=2))
            for index in range(len(dims) - 1)
        ]
        self.downsample_layers = nn.ModuleList([stem, *downsampling])
        self.stages = nn.ModuleList(nn.Sequential(*(_ConvNeXtBlock(dim) for _ in range(depth))) for dim, depth in zip(dims, shape.depths))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.fc_kp = nn.Linear(dims[-1], 3 * shape.num_kp)
        self.fc_scale = nn.Linear(dims[-1], 1)
        self.fc_pitch = nn.Linear(dims[-1], shape.num_bins)
        self.fc_yaw = nn.Linear(dims[-1], shape.num_bins)
        self.fc_roll = nn.Linear(dims[-1], shape.num_bins)
        self.fc_t = nn.Linear(dims[-1], 3)
        self.fc_exp = nn.Linear(dims[-1], 3 * shape.num_kp)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        for downsample, stage in zip(self.downsample_layers, self.stages):
            x = stage(downsample(x))
        pooled = self.norm(x.mean(dim=(-2, -1)))
        return {name: getattr(self, f"fc_{name}")(pooled) for name in HEADS}


class MotionExtractor(nn.Module):
    """RGB 0..1 (N, 3, 256, 256) -> ``kp`` (N, 63), ``pitch``/``yaw``/``roll`` (N, 66) logits, ``t`` (N, 3), ``exp`` (N, 63), ``scale`` (N, 1)."""

    def __init__(self, shape: MotionShape):
        super().__init__()
        self.detector = _ConvNeXtV2(shape)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.detector(image)
