"""``framebridge run lipsync --audio line.wav ... --cues out/line.json``: a dialogue file to a Rhubarb cue file.

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
from typing import Any

from framebridge.protocol.errors import FrameBridgeError, InvalidParams

from ..ops.base import InputFrame, JobContext
from ..ops.lipsync import LipsyncOp
from .audio import FrameClock, read_audio
from .formats import CueFile, format_for, write
from .rules import Cue

__all__ = ["CueRun", "run_cues", "read_transcript"]


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
