"""Painted keyframes for `propagate`: Blender image pixels to job-level ``keyframe_<frame>`` buffers.

Blender hands an image's pixels as a flat float list, rows bottom to top, in the
image's own colour space: float images (EXR, or a float buffer painted in the
image editor) are scene-linear, byte images with an sRGB colour space are
display-encoded and are decoded here. The buffers are scene-linear RGB, rows top
to bottom, at the render's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from framebridge.protocol.errors import InvalidParams, ShapeMismatch

__all__ = ["Keyframe", "keyframe_pixels", "keyframe_buffers"]

LINEAR_SPACES = ("Linear", "Linear Rec.709", "Linear CIE-XYZ E", "Non-Color", "Raw", "ACEScg", "Linear Rec.2020")


@dataclass(frozen=True)
class Keyframe:
    """One keyframe as the panel holds it: its frame, and its image's name, pixels, size and colour."""

    frame: int
    name: str
    pixels: np.ndarray
    size: tuple[int, int]
    channels: int
    is_float: bool
    colour_space: str


def _srgb_to_linear(values: np.ndarray) -> np.ndarray:
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4).astype(np.float32)


def keyframe_pixels(keyframe: Keyframe, render_size: tuple[int, int]) -> np.ndarray:
    """One keyframe as (H, W, 3) scene-linear float32, rows top to bottom; typed errors name the image."""
    width, height = keyframe.size
    if (width, height) != tuple(render_size):
        raise ShapeMismatch(f"keyframe image {keyframe.name!r} for frame {keyframe.frame} is {width}x{height}, "
                            f"the render is {render_size[0]}x{render_size[1]}",
                            fix="paint the keyframe over a render of this shot at the render resolution")
    channels = keyframe.channels
    flat = np.asarray(keyframe.pixels, dtype=np.float32)
    if channels not in (3, 4) or flat.size != width * height * channels:
        raise ShapeMismatch(f"keyframe image {keyframe.name!r} has {flat.size} values, not {width}x{height} RGB(A)")
    rgb = flat.reshape(height, width, channels)[::-1, :, :3]
    if not keyframe.is_float and keyframe.colour_space not in LINEAR_SPACES:
        rgb = _srgb_to_linear(np.clip(rgb, 0.0, 1.0))
    return np.ascontiguousarray(rgb, dtype=np.float32)


def keyframe_buffers(keyframes: Iterable[Keyframe], frames: list[int], render_size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The job-level buffers of every keyframe; each frame once, inside the shot, at least one."""
    buffers: dict[str, np.ndarray] = {}
    wanted = set(frames)
    for keyframe in keyframes:
        name = f"keyframe_{keyframe.frame}"
        if keyframe.frame not in wanted:
            raise InvalidParams(f"keyframe {keyframe.name!r} is for frame {keyframe.frame}, outside the shot "
                                f"{frames[0]}-{frames[-1]}", fix="set its frame inside the frame range")
        if name in buffers:
            raise InvalidParams(f"frame {keyframe.frame} has two keyframe images", fix="keep one image per frame")
        buffers[name] = keyframe_pixels(keyframe, render_size)
    if not buffers:
        raise InvalidParams("propagate needs at least one keyframe image",
                            fix="add a keyframe in the FrameBridge > Propagate panel and pick its image")
    return buffers
