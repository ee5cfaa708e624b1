"""``framebridge run lipsync --audio line.wav ... --cues out/line.json``: a dialogue file to a Rhubarb cue file;
with ``--input 'plate/frame_####.exr' --output 'out/frame_####.exr'``, a lip-synced plate.

In-process by default (the op itself, no socket), or on a running server when a
connection file is given. The audio is read and mixed to mono here and travels
as the job-level buffer ``audio``; the cue file is written atomically in the
format its extension (or ``--format``) names.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable

from framebridge.protocol.errors import FrameBridgeError, InvalidParams

from ..ops.base import InputFrame, JobContext
from ..ops.lipsync import LipsyncOp
from ..runner import RunReport, run_sequence
from ..sequences import FramePattern
from .audio import FrameClock, read_audio
from .formats import CueFile, format_for, write
from .rules import Cue

__all__ = ["CueRun", "PlateRun", "run_cues", "run_plate", "read_transcript"]


@dataclass
class CueRun:
    """What a run wrote: the cue file, its cues, per-frame shapes, how phones were found, notes, seconds."""

    path: Path
    cues: list[Cue]
    shapes: dict[int, str]
    method: str
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _in_process(frames: list[int], params: dict[str, Any], audio) -> dict[int, dict[str, Any]]:
    op = LipsyncOp()
    buffers = MappingProxyType({"audio": audio})
    plan = op.prepare(params, {}, frames, None, buffers)
    context = JobContext(job_id=uuid.uuid4().hex, frames=list(frames), shot={}, cancelled=lambda: False,
                         job_buffers=buffers)
    return {item.number: item.meta for item in op.run(plan, (InputFrame(number, {}) for number in frames), context)}


def run_cues(audio_path: str | Path, cues_path: str | Path, *, fps: float, start: int = 1, offset: float = 0.0,
             transcript: str | None = None, cue_format: str | None = None, preston_blair: bool = False,
             extended_shapes: str = "GHX", frames: list[int] | None = None,
             connection_file: str | Path | None = None) -> CueRun:
    """Cues for a dialogue file over ``frames`` (default: every frame the audio covers from ``start``), written to ``cues_path``."""
    began = time.monotonic()
    cue_format = format_for(cues_path, cue_format)
    track = read_audio(audio_path)
    clock = FrameClock(fps, start, offset)
    frames = frames or clock.frames_for(track.duration)
    params: dict[str, Any] = {"sample_rate": track.sample_rate, "fps": fps, "start_frame": start, "offset": offset,
                              "extended_shapes": extended_shapes, "sound_file": str(Path(audio_path).resolve())}
    if transcript is not None:
        params["transcript"] = transcript
    if connection_file is None:
        metas = _in_process(frames, params, track.samples)
    else:
        metas = _on_server(frames, params, track.samples, Path(connection_file))
    missing = [number for number in frames if number not in metas]
    if missing:
        raise FrameBridgeError(f"the lipsync op returned no result for frames {missing[:5]}")
    track_meta = next(meta for meta in metas.values() if "cues" in meta)
    cues = [Cue(start_cs, end_cs, shape) for start_cs, end_cs, shape in track_meta["cues"]]
    path = write(cues_path, CueFile(cues, track_meta["duration"], params["sound_file"]), cue_format, fps=fps,
                 preston_blair=preston_blair)
    return CueRun(path, cues, {number: metas[number]["shape"] for number in frames}, track_meta["method"],
                  list(track_meta["notes"]), time.monotonic() - began)


@dataclass
class PlateRun:
    """What a plate run wrote: the frame files, failures, frames passed through without a face, the cue file, seconds."""

    report: RunReport
    faceless: list[int]
    cues_path: Path | None
    notes: list[str]


def run_plate(audio_path: str | Path, input_pattern: str, output_pattern: str, *, fps: float, start: int | None = None,
              offset: float = 0.0, transcript: str | None = None, backend: str | None = None,
              frames: list[int] | None = None, connection_file: str | Path | None = None, half: bool = False,
              cues_path: str | Path | None = None, cue_format: str | None = None, preston_blair: bool = False,
              extended_shapes: str = "GHX", on_frame: Callable[[int], None] | None = None) -> PlateRun:
    """Lip-sync the plate frames on disk to a dialogue file (``mode: plate``); the audio starts on ``start``
    (default: the first plate frame). With ``cues_path`` the cue track is written too."""
    track = read_audio(audio_path)
    frames = frames or FramePattern(input_pattern).existing_frames()
    if not frames:
        raise FrameBridgeError(f"no input frames match {input_pattern}", fix="check the path, or pass --frames")
    start = min(frames) if start is None else start
    params: dict[str, Any] = {"mode": "plate", "sample_rate": track.sample_rate, "fps": fps, "start_frame": start,
                              "offset": offset, "extended_shapes": extended_shapes,
                              "sound_file": str(Path(audio_path).resolve())}
    if transcript is not None:
        params["transcript"] = transcript
    report = run_sequence("lipsync", input_pattern, output_pattern, frames, params=params, backend=backend,
                          connection_file=connection_file, half=half, on_frame=on_frame,
                          job_buffers={"audio": track.samples})
    faceless = sorted(number for number, meta in report.meta.items() if meta.get("face_found") is False)
    track_meta = next((meta for meta in report.meta.values() if "cues" in meta), None)
    written_cues = None
    if cues_path is not None and track_meta is not None:
        cues = [Cue(start_cs, end_cs, shape) for start_cs, end_cs, shape in track_meta["cues"]]
        written_cues = write(cues_path, CueFile(cues, track_meta["duration"], params["sound_file"]),
                             format_for(cues_path, cue_format), fps=fps, preston_blair=preston_blair)
    return PlateRun(report, faceless, written_cues, list(track_meta["notes"]) if track_meta else [])


def _on_server(frames: list[int], params: dict[str, Any], audio, connection_file: Path) -> dict[int, dict[str, Any]]:
    from framebridge.protocol.client import Client, DoneEvent, ResultEvent

    metas: dict[int, dict[str, Any]] = {}
    with Client(connection_file) as client:
        job = client.submit("lipsync", frames, lambda number: {}, params=params, job_buffers={"audio": audio},
                            keep_results=False)
        for event in job:
            if isinstance(event, ResultEvent):
                metas[event.frame] = event.meta
            elif isinstance(event, DoneEvent) and event.error is not None:
                raise event.error
    return metas


def read_transcript(text: str | None, path: str | Path | None) -> str | None:
    """The transcript from ``--transcript`` or ``--transcript-file`` (not both)."""
    if text is not None and path is not None:
        raise InvalidParams("give --transcript or --transcript-file, not both")
    if path is None:
        return text
    path = Path(path)
    if not path.is_file():
        raise InvalidParams(f"no transcript file at {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidParams(f"{path} is not UTF-8 text") from None
