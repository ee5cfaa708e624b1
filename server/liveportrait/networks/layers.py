"""Building blocks shared by LivePortrait's networks (torch).

Attribute names are part of the checkpoint format: they spell the state-dict keys of the
official weights (``conv``, ``norm``, ``conv1``, ``mlp_shared``...), so they must not change.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ChannelsFirstLayerNorm",
    "ConvNormAct2d",
    "DownBlock2d",
    "DownBlock3d",
    "GlobalResponseNorm",
    "Hourglass",
    "ResBlock3d",
    "SpadeNorm",
    "SpadeResBlock",
    "UpBlock3d",
    "coordinate_grid",
    "gaussian_heatmaps",
]


def coordinate_grid(depth: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(depth, height, width, 3) grid of (x, y, z) in -1..1 (x right, y down, z inward), like ``grid_sample`` reads."""
    axes = [torch.linspace(-1.0, 1.0, size, dtype=like.dtype, device=like.device) for size in (depth, height, width)]
    z, y, x = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([x, y, z], dim=-1)


def gaussian_heatmaps(keypoints: torch.Tensor, size: tuple[int, int, int], variance: float) -> torch.Tensor:
    """(batch, K, d, h, w) Gaussians ``exp(-|grid - kp|^2 / (2 variance))`` around (batch, K, 3) keypoints."""
    grid = coordinate_grid(*size, like=keypoints)
    offsets = grid[None, None] - keypoints[:, :, None, None, None, :]
    return torch.exp(-0.5 * offsets.pow(2).sum(-1) / variance)


class ConvNormAct2d(nn.Module):
    """3x3 convolution, batch norm and (leaky) ReLU at the same resolution."""

    def __init__(self, in_features: int, out_features: int, leaky: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_features, affine=True)
        self.ac = nn.LeakyReLU() if leaky else nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ac(self.norm(self.conv(x)))


class DownBlock2d(nn.Module):
    """Convolution, batch norm, ReLU, then 2x2 average pooling."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class DownBlock3d(nn.Module):
    """3D convolution, batch norm, ReLU, then pooling of height and width (depth kept)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool3d(F.relu(self.norm(self.conv(x))), (1, 2, 2))


class UpBlock3d(nn.Module):
    """Nearest upsampling of height and width, then 3D convolution, batch norm, ReLU."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=(1, 2, 2))
        return F.relu(self.norm(self.conv(x)))


class ResBlock3d(nn.Module):
    """Pre-activation residual block of two 3D convolutions at constant width."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv3d(features, features, kernel_size=3, padding=1)
        self.conv2 = nn.Conv3d(features, features, kernel_size=3, padding=1)
        self.norm1 = nn.BatchNorm3d(features, affine=True)
        self.norm2 = nn.BatchNorm3d(features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.conv1(F.relu(self.norm1(x)))
        residual = self.conv2(F.relu(self.norm2(residual)))
        return x + residual


class _HourglassEncoder(nn.Module):
    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        widths = [in_features] + [min(max_features, block_expansion * 2 ** (index + 1)) for index in range(num_blocks)]
        self.down_blocks = nn.ModuleList(DownBlock3d(widths[index], widths[index + 1]) for index in range(num_blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        levels = [x]
        for block in self.down_blocks:
            levels.append(block(levels[-1]))
        return levels


class _HourglassDecoder(nn.Module):
    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        blocks = []
        for level in reversed(range(num_blocks)):
            incoming = min(max_features, block_expansion * 2 ** (level + 1)) * (1 if level == num_blocks - 1 else 2)
            blocks.append(UpBlock3d(incoming, min(max_features, block_expansion * 2**level)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters, affine=True)

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        x = levels[-1]
        for block, skip in zip(self.up_blocks, reversed(levels[:-1])):
            x = torch.cat([block(x), skip], dim=1)
        return F.relu(self.norm(self.conv(x)))


class Hourglass(nn.Module):
    """3D U-Net: pooled encoder levels, upsampled decoder with skip concatenation."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.encoder = _HourglassEncoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = _HourglassDecoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class SpadeNorm(nn.Module):
    """Instance norm whose scale and shift are predicted per pixel from a conditioning map."""

    def __init__(self, features: int, label_features: int, hidden: int):
        super().__init__()
        self.param_free_norm = nn.InstanceNorm2d(features, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_features, hidden, kernel_size=3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, features, kernel_size=3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, features, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        condition = F.interpolate(condition, size=x.shape[2:], mode="nearest")
        hidden = self.mlp_shared(condition)
        return self.param_free_norm(x) * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)


class SpadeResBlock(nn.Module):
    """Residual block of two spectrally normalised convolutions, each after SPADE and leaky ReLU."""

    def __init__(self, in_features: int, out_features: int, label_features: int, hidden: int):
        super().__init__()
        middle = min(in_features, out_features)
        self.learned_shortcut = in_features != out_features
        self.conv_0 = nn.utils.spectral_norm(nn.Conv2d(in_features, middle, kernel_size=3, padding=1))
        self.conv_1 = nn.utils.spectral_norm(nn.Conv2d(middle, out_features, kernel_size=3, padding=1))
        self.norm_0 = SpadeNorm(in_features, label_features, hidden)
        self.norm_1 = SpadeNorm(middle, label_features, hidden)
        if self.learned_shortcut:
            self.conv_s = nn.utils.spectral_norm(nn.Conv2d(in_features, out_features, kernel_size=1, bias=False))
            self.norm_s = SpadeNorm(in_features, label_features, hidden)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, condition)) if self.learned_shortcut else x
        residual = self.conv_0(F.leaky_relu(self.norm_0(x, condition), 0.2))
        residual = self.conv_1(F.leaky_relu(self.norm_1(residual, condition), 0.2))
        return shortcut + residual


class ChannelsFirstLayerNorm(nn.Module):
    """Layer norm over the channel axis of an (N, C, H, W) tensor."""

    def __init__(self, features: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normalised = F.layer_norm(x.permute(0, 2, 3, 1), self.weight.shape, self.weight, self.bias, self.eps)
        return normalised.permute(0, 3, 1, 2)


class GlobalResponseNorm(nn.Module):
    """ConvNeXt V2's GRN on channels-last input: features scaled by their spatial L2 norm relative to the channel mean."""

    def __init__(self, features: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, features))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)
        relative = spatial / (spatial.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * relative) + self.beta + x
