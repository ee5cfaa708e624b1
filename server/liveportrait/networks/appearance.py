"""F, the appearance feature extractor: a 256x256 source image to a 3D feature volume (torch)."""

from __future__ import annotations

import torch
from torch import nn

from ..architecture import AppearanceShape
from .layers import ConvNormAct2d, DownBlock2d, ResBlock3d

__all__ = ["AppearanceFeatureExtractor"]


class AppearanceFeatureExtractor(nn.Module):
    """RGB 0..1 (N, 3, 256, 256) -> features (N, reshape_channel, reshape_depth, 64, 64)."""

    def __init__(self, shape: AppearanceShape):
        super().__init__()
        self.shape = shape
        self.first = ConvNormAct2d(shape.image_channel, shape.block_expansion)
        widths = [min(shape.max_features, shape.block_expansion * 2**index) for index in range(shape.num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(DownBlock2d(widths[index], widths[index + 1]) for index in range(shape.num_down_blocks))
        self.second = nn.Conv2d(widths[-1], shape.max_features, kernel_size=1)
        self.resblocks_3d = nn.Sequential()
        for index in range(shape.num_resblocks):
            self.resblocks_3d.add_module(f"3dr{index}", ResBlock3d(shape.reshape_channel))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.first(image)
        for block in self.down_blocks:
            x = block(x)
        x = self.second(x)
        batch, _, height, width = x.shape
        volume = x.view(batch, self.shape.reshape_channel, self.shape.reshape_depth, height, width)
        return self.resblocks_3d(volume)
