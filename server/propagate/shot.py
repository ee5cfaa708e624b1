"""One input frame as propagation needs it: checked, with its guides at full size and at the working size.

Chains run at a working size (long side at most ``WORK_SIDE``): motion, depth and
object ids are sampled there by nearest neighbour (motion scaled with the image),
so each step costs a quarter of a 1080p one; the keyframe itself is sampled at
full size from the chain's coordinates (:mod:`.assemble`). Guides compare
colours in a perceptual encoding (the square root of scene-linear, clipped to
0..1): cheap, and close enough to display values for likeness tests.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Mapping

import cv2
import numpy as np

from framebridge.protocol import passes
from framebridge.protocol.buffers import digest
from framebridge.protocol.errors import MissingInput, NonFiniteValues, ShapeMismatch

from ..restyle.temporal import estimate_flow
from .chain import Guides

__all__ = ["WORK_SIDE", "ShotFrame", "digests", "read_shot_frame", "link_motion", "perceptual", "work_size"]

WORK_SIDE = 960


def perceptual(linear_rgb: np.ndarray) -> np.ndarray:
    """Scene-linear RGB to the guides' encoding: sqrt of the value clipped to 0..1."""
    values = np.maximum(np.asarray(linear_rgb, dtype=np.float32), 0.0)
    np.minimum(values, 1.0, out=values)
    return np.sqrt(values, out=values)


def work_size(height: int, width: int) -> tuple[int, int]:
    scale = min(1.0, WORK_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


@dataclass
class ShotFrame:
    """A frame's render at full size (``render``, ``objects``, ``depth``, alpha) and its guides at the working size."""

    number: int
    render: np.ndarray  # the beauty as sent: linear RGB or RGBA, float32
    objects: np.ndarray | None
    depth: np.ndarray | None
    work: Guides
    work_look: np.ndarray
    # The chain from the previous keyframe: that keyframe's number and the chain, perhaps still being traced.
    forward: tuple[int, Future] | None = field(default=None, repr=False)

    @property
    def has_alpha(self) -> bool:
        return self.render.shape[2] == 4


def read_shot_frame(number: int, buffers: Mapping[str, np.ndarray], size: tuple[int, int]) -> ShotFrame:
    """Check one frame's buffers (typed errors name the buffer) and prepare its guides."""
    beauty = buffers.get(passes.BEAUTY)
    if beauty is None or beauty.ndim != 3 or beauty.shape[2] not in (3, 4):
        raise MissingInput(f"frame {number} needs a beauty buffer (H, W, 3|4)", details={"buffer": passes.BEAUTY})
    if beauty.shape[:2] != size:
        raise ShapeMismatch(f"frame {number} is {beauty.shape[1]}x{beauty.shape[0]}, the shot is {size[1]}x{size[0]}")
    linear = np.ascontiguousarray(beauty, dtype=np.float32)
    if not _all_finite(linear):
        raise NonFiniteValues(f"frame {number}'s beauty has NaN or infinite values", details={"buffer": passes.BEAUTY})
    full = {name: _pass(buffers, name, number, size, channels)
            for name, channels in ((passes.MOTION_BACKWARD, 2), (passes.MOTION_FORWARD, 2), (passes.DEPTH, None),
                                   (passes.OBJECT_INDEX, None))}
    small = work_size(*size)
    scale = (small[1] / size[1], small[0] / size[0])
    work = Guides(*(None if full[name] is None else _shrink(full[name], small, scale if name in (passes.MOTION_BACKWARD, passes.MOTION_FORWARD) else None)
                    for name in (passes.MOTION_BACKWARD, passes.MOTION_FORWARD, passes.DEPTH, passes.OBJECT_INDEX)))
    # The working-size look: the render averaged down, then encoded (a quarter of the work of the other order).
    work_linear = linear if small == size else cv2.resize(linear, (small[1], small[0]), interpolation=cv2.INTER_AREA)
    work_look = cv2.cvtColor(work_linear, cv2.COLOR_RGBA2RGB) if work_linear.shape[2] == 4 else work_linear.copy()
    np.clip(work_look, 0.0, 1.0, out=work_look)
    np.sqrt(work_look, out=work_look)  # as perceptual(), in place
    return ShotFrame(number, linear, full[passes.OBJECT_INDEX], full[passes.DEPTH], work, work_look)


def digests(buffers: Mapping[str, np.ndarray]) -> dict[str, str]:
    """Each buffer's digest, for cache keys."""
    return {name: digest(np.ascontiguousarray(array)) for name, array in sorted(buffers.items())}


def _pass(buffers: Mapping[str, np.ndarray], name: str, number: int, size: tuple[int, int], channels: int | None) -> np.ndarray | None:
    array = buffers.get(name)
    if array is None:
        return None
    expected = size + ((channels,) if channels else ())
    if array.shape != expected:
        raise ShapeMismatch(f"frame {number}'s {name} has shape {array.shape}, expected {expected}", details={"buffer": name})
    values = np.ascontiguousarray(array, dtype=np.float32)
    if name != passes.DEPTH and not _all_finite(values):
        raise NonFiniteValues(f"frame {number}'s {name} has NaN or infinite values", details={"buffer": name})
    return values


def _all_finite(array: np.ndarray) -> bool:
    """No NaN or infinity in ``array``: each row's sum is finite unless one of its values is not (or the sum
    overflows, when every value is checked)."""
    rows = array.reshape(array.shape[0], -1)
    with np.errstate(over="ignore", invalid="ignore"):
        sums = rows @ np.ones(rows.shape[1], rows.dtype)
    return bool(np.isfinite(sums).all() or np.isfinite(rows).all())


def _shrink(array: np.ndarray, size: tuple[int, int], scale: tuple[float, float] | None) -> np.ndarray:
    """Nearest-neighbour resampling, so ids, depths and motion never mix across object edges."""
    if array.shape[:2] == size:
        return array
    small = cv2.resize(array, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    return cv2.multiply(small, scale + (0.0, 0.0), dst=small) if scale is not None else small


def link_motion(frame: ShotFrame, previous: ShotFrame, optical_flow: bool) -> None:
    """Fill the motion between two consecutive frames from DIS optical flow where the render gave none."""
    if frame.work.motion_backward is not None and previous.work.motion_forward is not None:
        return
    if not optical_flow:
        raise MissingInput(f"frame {frame.number} has no motion vectors to frame {previous.number} and optical_flow is off",
                           fix="render the Vector pass, or allow optical_flow", details={"buffer": passes.MOTION_BACKWARD})
    backward, previous_forward = estimate_flow(frame.work_look, previous.work_look)
    if frame.work.motion_backward is None:
        frame.work = Guides(backward, frame.work.motion_forward, frame.work.depth, frame.work.object_index)
    if previous.work.motion_forward is None:
        previous.work = Guides(previous.work.motion_backward, previous_forward, previous.work.depth, previous.work.object_index)
