"""The widths and depths of LivePortrait's five networks; the defaults are the official release's.

Pure data (no torch), so describe() and the loader can talk about them without importing
torch. Tests build the same networks at reduced width by passing smaller numbers; the
layer names and nesting do not change with width, only tensor shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "AppearanceShape",
    "Architecture",
    "DenseMotionShape",
    "GeneratorShape",
    "MlpShape",
    "MotionShape",
    "StitchingShape",
    "WarpingShape",
]


@dataclass(frozen=True)
class AppearanceShape:
    """F: 256x256 RGB -> a feature volume of ``reshape_channel`` x ``reshape_depth`` x 64 x 64."""

    image_channel: int = 3
    block_expansion: int = 64
    num_down_blocks: int = 2
    max_features: int = 512
    reshape_channel: int = 32
    reshape_depth: int = 16
    num_resblocks: int = 6


@dataclass(frozen=True)
class MotionShape:
    """M: a ConvNeXtV2 (tiny: depths 3-3-9-3, dims 96-768) with keypoint, pose, expression, translation, scale heads."""

    num_kp: int = 21
    num_bins: int = 66
    depths: tuple[int, ...] = (3, 3, 9, 3)
    dims: tuple[int, ...] = (96, 192, 384, 768)
    image_channel: int = 3


@dataclass(frozen=True)
class DenseMotionShape:
    """The hourglass inside W that turns keypoint heatmaps and sparse motions into dense flow and occlusion."""

    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    reshape_depth: int = 16
    compress: int = 4


@dataclass(frozen=True)
class WarpingShape:
    """W: warps the feature volume by the dense flow and folds depth into channels."""

    num_kp: int = 21
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    reshape_channel: int = 32
    estimate_occlusion_map: bool = True
    dense_motion: DenseMotionShape = field(default_factory=DenseMotionShape)


@dataclass(frozen=True)
class GeneratorShape:
    """G: a SPADE decoder from the warped features to RGB, upscaled twice (256 -> 512)."""

    upscale: int = 2
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    out_channels: int = 64
    spade_hidden: int = 128

    @property
    def input_channels(self) -> int:
        """Channels of the warped features G reads (256 in the release)."""
        return min(self.max_features, self.block_expansion * 2**self.num_down_blocks)


@dataclass(frozen=True)
class MlpShape:
    """One stitching/retargeting MLP: input, hidden widths (ReLU between), output."""

    input_size: int
    hidden_sizes: tuple[int, ...]
    output_size: int


@dataclass(frozen=True)
class StitchingShape:
    """S and the two retargeting MLPs, stored in one checkpoint."""

    stitching: MlpShape = MlpShape(126, (128, 128, 64), 65)
    lip: MlpShape = MlpShape(65, (128, 128, 64), 63)
    eye: MlpShape = MlpShape(66, (256, 256, 128, 128, 64), 63)


@dataclass(frozen=True)
class Architecture:
    """All five networks' shapes; ``Architecture()`` is the official release."""

    appearance: AppearanceShape = field(default_factory=AppearanceShape)
    motion: MotionShape = field(default_factory=MotionShape)
    warping: WarpingShape = field(default_factory=WarpingShape)
    generator: GeneratorShape = field(default_factory=GeneratorShape)
    stitching: StitchingShape = field(default_factory=StitchingShape)
