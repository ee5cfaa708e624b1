"""G, the SPADE generator: warped features to an RGB image, upscaled by pixel shuffle (torch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..architecture import GeneratorShape
from .layers import SpadeResBlock

__all__ = ["SpadeGenerator"]

MIDDLE_BLOCKS = 6


class SpadeGenerator(nn.Module):
    """Features (N, C, 64, 64) -> RGB 0..1 (N, 3, 512, 512) with the release's upscale 2."""

    def __init__(self, shape: GeneratorShape):
        super().__init__()
        channels, hidden = shape.input_channels, shape.spade_hidden
        self.fc = nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1)
        for index in range(MIDDLE_BLOCKS):
            setattr(self, f"G_middle_{index}", SpadeResBlock(2 * channels, 2 * channels, channels, hidden))
        self.up_0 = SpadeResBlock(2 * channels, channels, channels, hidden)
        self.up_1 = SpadeResBlock(channels, shape.out_channels, channels, hidden)
        if shape.upscale > 1:
            self.conv_img = nn.Sequential(nn.Conv2d(shape.out_channels, 3 * 4, kernel_size=3, padding=1), nn.PixelShuffle(2))
        else:
            self.conv_img = nn.Conv2d(shape.out_channels, 3, kernel_size=3, padding=1)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        x = self.fc(feature)
        for index in range(MIDDLE_BLOCKS):
            x = getattr(self, f"G_middle_{index}")(x, feature)
        x = self.up_0(F.interpolate(x, scale_factor=2), feature)
        x = self.up_1(F.interpolate(x, scale_factor=2), feature)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, 0.2)))
