"""Expression on Sequencer strips, as plain values: which file a strip shows at each frame, the pairing of
plate and driver, the op params, and the channel the result goes to.

An image strip shows ``elements[i]`` at scene frame ``frame_start + i``, within its
trimmed range ``[frame_final_start, frame_final_end)``. Plate frame n is paired with
the driver strip's scene frame n + ``driving_offset``; the driver's reference (neutral)
frame, by default its first shown frame, travels once as the job buffer ``reference``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from framebridge.protocol.errors import InvalidParams

__all__ = ["REGIONS", "ExpressionJob", "image_strip_frames", "plan_expression", "channel_above", "srgb_to_linear"]

REGIONS = ("expression", "eyes", "lips", "pose")


def image_strip_frames(directory: str, filenames: list[str], frame_start: int, final_start: int,
                       final_end: int) -> dict[int, str]:
    """Scene frame -> image file shown there, for the frames the strip shows after trimming."""
    shown = {}
    for frame in range(int(final_start), int(final_end)):
        index = frame - int(frame_start)
        if 0 <= index < len(filenames):
            shown[frame] = os.path.join(directory, filenames[index])
    return shown


@dataclass(frozen=True)
class ExpressionJob:
    frames: list[int]
    params: dict
    driving: dict[int, str]  # target frame -> the driver image paired with it
    reference: str  # the driver's neutral image


def plan_expression(plate: Mapping[int, str], driver: Mapping[int, str], *, regions: Iterable[str], offset: int = 0,
                    reference_frame: int | None = None, smoothing: float = 0.5,
                    multipliers: Mapping[str, float] | None = None) -> ExpressionJob:
    """The job for a plate strip driven by a driver strip; refuses a pairing the driver cannot cover."""
    regions = [region for region in REGIONS if region in set(regions)]
    if not regions:
        raise InvalidParams("no region is chosen: nothing would move", fix="choose expression, eyes, lips or pose")
    if not plate or not driver:
        raise InvalidParams("the plate and the driver strips must each show at least one frame")
    frames = sorted(plate)
    missing = [number for number in frames if number + offset not in driver]
    if missing:
        raise InvalidParams(f"the driver strip (frames {min(driver)}-{max(driver)}) has no frame for plate frames "
                            f"{missing[:10]} with offset {offset}",
                            fix="move the driver strip, change the offset, or trim the plate strip")
    reference = min(driver) if reference_frame is None else int(reference_frame)
    if reference not in driver:
        raise InvalidParams(f"the reference frame {reference} is not shown by the driver strip "
                            f"({min(driver)}-{max(driver)})", details={"param": "reference_frame"})
    factors = dict(multipliers or {})
    for name, value in factors.items():
        if not math.isfinite(value):
            raise InvalidParams(f"the {name} multiplier must be a finite number", details={"param": "multipliers"})
    if not 0.0 <= smoothing <= 1.0:
        raise InvalidParams(f"smoothing must be within 0..1, got {smoothing}", details={"param": "smoothing"})
    params = {"regions": regions, "smoothing": float(smoothing), "driving_offset": int(offset),
              "driving_range": [min(driver), max(driver)], **({"multipliers": factors} if factors else {})}
    return ExpressionJob(frames, params, {number: driver[number + offset] for number in frames}, driver[reference])


def channel_above(plate_channel: int, plate_range: tuple[int, int], strips: Iterable[tuple[int, int, int]]) -> int:
    """The lowest channel above the plate's with no strip (channel, start, end) overlapping the plate's range."""
    start, end = plate_range
    busy = {channel for channel, first, last in strips if first < end and start < last}
    channel = plate_channel + 1
    while channel in busy:
        channel += 1
    return channel


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """sRGB-encoded 0..1 values (8-bit images as Blender holds them) to scene-linear float32."""
    encoded = np.clip(np.asarray(values, np.float32), 0.0, 1.0)
    return np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4).astype(np.float32)
