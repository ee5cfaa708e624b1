"""S and R: the stitching MLP and the eye and lip retargeting MLPs (torch)."""

from __future__ import annotations

import torch
from torch import nn

from ..architecture import MlpShape

__all__ = ["KeypointMlp"]


class KeypointMlp(nn.Module):
    """Linear layers with ReLU between them; keypoint features in, keypoint offsets out."""

    def __init__(self, shape: MlpShape):
        super().__init__()
        widths = [shape.input_size, *shape.hidden_sizes]
        layers: list[nn.Module] = []
        for incoming, outgoing in zip(widths, widths[1:]):
            layers += [nn.Linear(incoming, outgoing), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], shape.output_size))
        self.mlp = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features)
