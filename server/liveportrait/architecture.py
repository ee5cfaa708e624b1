"""The widths and depths of LivePortrait's five networks; the defaults are the official release's.

Pure data (no torch), so describe() and the loader can talk about them without importing
torch. Tests build the same networks at reduced width by passing smaller numbers; the
layer names and nesting do not change with width, only tensor shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

__all__ = [
    "AppearanceShape",
    "Architecture",
    "DenseMotionShape",
    "GeneratorShape",
    "MlpShape",
    "MotionShape",
    "StitchingShape",
    "WarpingShape",
    "architecture_from_dict",
    "architecture_to_dict",
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


def architecture_to_dict(architecture: Architecture) -> dict[str, Any]:
    """Plain nested dicts and lists (JSON-ready) of every shape."""

    def plain(value: Any) -> Any:
        if is_dataclass(value):
            return {item.name: plain(getattr(value, item.name)) for item in fields(value)}
        return list(value) if isinstance(value, tuple) else value

    return plain(architecture)


def architecture_from_dict(data: dict[str, Any]) -> Architecture:
    """An :class:`Architecture` from (partial) nested dicts; absent values keep the release's.

    Raises ``ValueError`` naming an unknown key or a value of the wrong kind.
    """

    def build(defaults: Any, values: Any, path: str) -> Any:
        if not isinstance(values, dict):
            raise ValueError(f"{path.rstrip('.') or 'architecture'} must be a table, not {type(values).__name__}")
        names = [item.name for item in fields(defaults)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"unknown architecture keys {[path + name for name in unknown]}")
        arguments = {}
        for name in names:
            current, value = getattr(defaults, name), values.get(name, getattr(defaults, name))
            if name not in values:
                arguments[name] = current
            elif is_dataclass(current):
                arguments[name] = build(current, value, f"{path}{name}.")
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{path}{name} must be true or false")
                arguments[name] = value
            elif isinstance(current, tuple):
                if not isinstance(value, list) or not all(_positive(number) for number in value):
                    raise ValueError(f"{path}{name} must be a list of positive integers")
                arguments[name] = tuple(value)
            elif not _positive(value):
                raise ValueError(f"{path}{name} must be a positive integer")
            else:
                arguments[name] = value
        return type(defaults)(**arguments)

    return build(Architecture(), data, "")


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
