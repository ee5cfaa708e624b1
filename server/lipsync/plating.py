"""The ``lipsync`` op's plate mode: a plate's frames through a plate backend, in and out of scene-linear.

Each input frame's ``beauty`` (scene-linear RGB or premultiplied RGBA) goes to the
backend as display sRGB with its cue weights and audio time; what the backend
changed comes back as a change in linear light, so highlights beyond the display
range and the alpha survive, and every pixel outside the backend's matte is the
input's own bits. A frame without a face passes through with a warning naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from framebridge.protocol import passes
from framebridge.protocol.errors import FrameBridgeError, InvalidParams

from ..colour import display_to_linear, linear_to_display, unpremultiply
from ..ops.base import FrameFailure, InputFrame, OutputFrame, frame_beauty
from .audio import AudioTrack, resample
from .mel import SAMPLE_RATE
from .plate import PLATE_BACKENDS, SHAPES, PlateBackend, PlateFrame, plate_backend

__all__ = ["MATTE", "PlatePlan", "prepare_plate", "plate_results"]

MATTE = "mouth_matte"


@dataclass(frozen=True)
class PlatePlan:
    backend: PlateBackend


def prepare_plate(backend_name: str | None) -> PlatePlan:
    """The plate backend a submit asks for (default ``cpu``), checked to be able to run before any frame moves."""
    if backend_name in (None, "builtin"):
        backend_name = "cpu"
    if backend_name not in PLATE_BACKENDS:
        raise InvalidParams(f"lipsync plate mode has no backend {backend_name!r}", details={"allowed": sorted(PLATE_BACKENDS)})
    backend = plate_backend(backend_name)
    backend.check()
    return PlatePlan(backend)


def plate_results(plan: PlatePlan, track: AudioTrack, fps: float, frames: Iterator[InputFrame],
                  times: Mapping[int, float], weights: Mapping[int, np.ndarray],
                  metas: Mapping[int, dict[str, Any]]) -> Iterator[OutputFrame | FrameFailure]:
    """One lip-synced ``beauty`` and its ``mouth_matte`` per frame, in order; ``metas`` are each frame's cue meta."""
    audio = track if track.sample_rate == SAMPLE_RATE else resample(track, SAMPLE_RATE)
    plan.backend.start(audio.samples, fps)
    for frame in frames:
        try:
            beauty = frame_beauty(frame, "the plate")
            display = linear_to_display(unpremultiply(beauty))
            shape_weights = {shape: float(value) for shape, value in zip(SHAPES, weights[frame.number])}
            result = plan.backend.process(PlateFrame(display, frame.number, times[frame.number], shape_weights))
        except FrameBridgeError as error:
            yield FrameFailure(frame.number, error)
            continue
        meta = dict(metas[frame.number])
        meta["face_found"] = result.face_found
        if not result.face_found:  # travels in `done` as this frame's warning too
            meta["warnings"] = [f"no face found in frame {frame.number}: passed through unchanged"]
        yield OutputFrame(frame.number, {passes.BEAUTY: _recombine(beauty, display, result.image, result.matte),
                                         MATTE: result.matte}, meta)


def _recombine(beauty: np.ndarray, display: np.ndarray, edited: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """The input with the backend's change added in linear light, premultiplied; outside the matte, the input's bits."""
    output = np.array(beauty, dtype=np.float32, copy=True)
    rows, columns = np.nonzero(matte)
    if rows.size == 0:
        return output
    box = (slice(rows.min(), rows.max() + 1), slice(columns.min(), columns.max() + 1))
    alpha = beauty[box][..., 3:4] if beauty.shape[2] == 4 else np.float32(1.0)
    change = display_to_linear(edited[box]) - display_to_linear(display[box])
    changed = beauty[box][..., :3] + change * alpha
    output[box][..., :3] = np.where(matte[box][..., None] > 0, changed, beauty[box][..., :3])
    return output
