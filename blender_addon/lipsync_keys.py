"""Lip-sync keys for shape keys, without bpy: audio to mono, the lipsync request, Rhubarb JSON, the keys to set.

Mouth shapes A-H and X map to shape-key names the user chooses; several shapes
may share one key, and a shape mapped to nothing is left out. ``CONSTANT`` keys
one shape at a time (2D replacement mouths, stepped); ``CROSSFADE`` keys each
shape's weight per frame with linear blends (3D). Only frames inside the given
range are keyed, and :class:`OwnedKeys` records which keys this tool wrote, so a
rerun removes exactly those and never the user's own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from framebridge.protocol.errors import InvalidParams, MediaError

__all__ = ["SHAPES", "STYLES", "OWNER_PROPERTY", "FrameCues", "OwnedKeys", "mono", "lipsync_params",
           "frame_cues_from_results", "parse_rhubarb_json", "frame_cues_from_rhubarb", "plan_keys", "data_path"]

SHAPES = ("A", "B", "C", "D", "E", "F", "G", "H", "X")
STYLES = ("CONSTANT", "CROSSFADE")
OWNER_PROPERTY = "framebridge_lipsync"


@dataclass(frozen=True)
class FrameCues:
    """Per frame: the one shape (2D) and the nine shape weights A..H, X (3D)."""

    shapes: dict[int, str]
    weights: dict[int, tuple[float, ...]]


def mono(data: np.ndarray) -> np.ndarray:
    """(samples,) or (samples, channels) audio as contiguous mono float32."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1, dtype=np.float32)
    if data.ndim != 1:
        raise MediaError(f"audio has shape {list(data.shape)}; expected samples or samples x channels")
    return np.ascontiguousarray(data)


def lipsync_params(sample_rate: float, fps: float, start_frame: int, *, transcript: str | None = None,
                   extended_shapes: str = "GHX", offset: float = 0.0, sound_file: str = "") -> dict[str, Any]:
    """The ``lipsync`` op's params for a track whose time 0 falls on ``start_frame``."""
    params: dict[str, Any] = {"sample_rate": int(round(sample_rate)), "fps": float(fps), "start_frame": int(start_frame),
                              "offset": float(offset), "extended_shapes": extended_shapes, "sound_file": sound_file}
    if transcript is not None and transcript.strip():
        params["transcript"] = transcript
    return params


def frame_cues_from_results(results: Mapping[int, tuple[Mapping[str, np.ndarray], Mapping[str, Any]]]) -> FrameCues:
    """Per-frame cues from the op's results: frame -> (buffers, meta)."""
    shapes = {frame: str(meta["shape"]) for frame, (_, meta) in results.items()}
    weights = {frame: tuple(float(v) for v in buffers["mouth_weights"]) for frame, (buffers, _) in results.items()}
    return FrameCues(shapes, weights)


def parse_rhubarb_json(text: str) -> list[tuple[float, float, str]]:
    """(start, end, shape) in seconds from a Rhubarb JSON cue file."""
    try:
        data = json.loads(text)
        cues = [(float(cue["start"]), float(cue["end"]), str(cue["value"])) for cue in data["mouthCues"]]
    except (ValueError, KeyError, TypeError) as error:
        raise MediaError(f"not a Rhubarb JSON cue file: {error}") from None
    for start, end, shape in cues:
        if shape not in SHAPES or not (math.isfinite(start) and math.isfinite(end)) or end < start or start < 0:
            raise MediaError(f"a Rhubarb cue {start}-{end} {shape!r} is not a valid mouth cue")
    return cues


def frame_cues_from_rhubarb(cues: Sequence[tuple[float, float, str]], fps: float, start_frame: int,
                            frames: Iterable[int]) -> FrameCues:
    """Per-frame cues from timed cues: the shape covering most of each frame; weights blend with the neighbours."""
    frames = list(frames)
    rest = "X" if not cues or any(shape == "X" for _, _, shape in cues) else "A"
    shapes: dict[int, str] = {}
    for frame in frames:
        begin, end = (frame - start_frame) / fps, (frame + 1 - start_frame) / fps
        cover = {}
        for start, finish, shape in cues:
            overlap = min(end, finish) - max(begin, start)
            if overlap > 0:
                cover[shape] = cover.get(shape, 0.0) + overlap
        shapes[frame] = max(cover, key=cover.get) if cover else rest
    weights = {}
    for frame in frames:
        row = np.zeros(len(SHAPES))
        for neighbour, share in ((frame - 1, 0.25), (frame, 0.5), (frame + 1, 0.25)):
            row[SHAPES.index(shapes.get(neighbour, shapes[frame]))] += share
        weights[frame] = tuple(float(v) for v in row)
    return FrameCues(shapes, weights)


def plan_keys(cues: FrameCues, mapping: Mapping[str, str], style: str, frames: Iterable[int]) -> dict[str, list[tuple[int, float]]]:
    """Shape-key name -> [(frame, value)] for the frames in range, keeping only the keys that shape the curve."""
    if style not in STYLES:
        raise InvalidParams(f"style must be one of {STYLES}, not {style!r}")
    unknown = sorted(set(mapping) - set(SHAPES))
    if unknown:
        raise InvalidParams(f"mapping names unknown shapes {unknown}", details={"allowed": list(SHAPES)})
    frames = sorted(frame for frame in frames if frame in cues.shapes)
    names = sorted({name for name in mapping.values() if name})
    plan: dict[str, list[tuple[int, float]]] = {}
    for name in names:
        shapes = [shape for shape, target in mapping.items() if target == name]
        if style == "CONSTANT":
            values = [1.0 if cues.shapes[frame] in shapes else 0.0 for frame in frames]
        else:
            values = [round(sum(cues.weights[frame][SHAPES.index(shape)] for shape in shapes), 4) for frame in frames]
        keys = []
        for index, (frame, value) in enumerate(zip(frames, values)):
            before = values[index - 1] if index else None
            after = values[index + 1] if index + 1 < len(values) else None
            # A key where the value changes, and (crossfades) where it starts to change; ends hold the range.
            if index in (0, len(values) - 1) or value != before or (style == "CROSSFADE" and value != after):
                keys.append((frame, value))
        plan[name] = keys
    return plan


def data_path(name: str) -> str:
    """The F-curve data path of a shape key's value."""
    return f'key_blocks["{name}"].value'


class OwnedKeys:
    """Which keys this tool wrote (data path -> frames), kept as JSON in a custom property of the Key."""

    def __init__(self, text: str | None = None):
        try:
            raw = json.loads(text) if text else {}
        except ValueError:
            raw = {}
        self.frames: dict[str, set[float]] = {
            path: {float(frame) for frame in frames} for path, frames in raw.items()
            if isinstance(path, str) and isinstance(frames, list)
        } if isinstance(raw, dict) else {}

    def owns(self, path: str, frame: float) -> bool:
        return any(abs(frame - owned) < 1e-3 for owned in self.frames.get(path, ()))

    def record(self, plan: Mapping[str, Sequence[tuple[int, float]]]) -> str:
        """Forget the old keys and remember ``plan``'s; the JSON to store."""
        self.frames = {data_path(name): {float(frame) for frame, _ in keys} for name, keys in plan.items()}
        return json.dumps({path: sorted(frames) for path, frames in sorted(self.frames.items())})
