"""Rhubarb Lip Sync's export formats, byte for byte as Rhubarb writes them, and readers for each.

- ``tsv``: ``<seconds>\\t<shape>`` per cue start, then the end of the recording with
  the rest shape (X, or A without X).
- ``xml``: ``<rhubarbResult>`` with ``metadata`` (``soundFile``, ``duration``) and
  ``<mouthCue start end>shape</mouthCue>``, two-space indent.
- ``json``: ``{"metadata": {"soundFile", "duration"}, "mouthCues": [{"start", "end", "value"}]}``
  with one cue per line.
- ``dat``: Moho switch data ``MohoSwitch1`` then ``<frame> <shape>`` (frame 1 is
  time 0, a cue starting on an already written frame is dropped, the last line is the
  end with the rest shape), optionally with Preston Blair names (MBP, etc, E, AI, O,
  U, FV, L, rest).

Times are seconds with two decimals; the duration is truncated to 1/100 s. An empty
animation is written as one zero-length rest cue, as Rhubarb does.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import escape

from framebridge.protocol.errors import InvalidParams, MediaError
from framebridge.protocol.files import atomic_path

from .rules import SHAPES, Cue

__all__ = ["FORMATS", "PRESTON_BLAIR", "CueFile", "format_for", "render", "parse", "write", "read"]

FORMATS = ("json", "tsv", "xml", "dat")
PRESTON_BLAIR = {"A": "MBP", "B": "etc", "C": "E", "D": "AI", "E": "O", "F": "U", "G": "FV", "H": "L", "X": "rest"}
_FROM_PRESTON_BLAIR = {name: shape for shape, name in PRESTON_BLAIR.items()}
_DAT_FPS = (24.0, 100.0)


@dataclass(frozen=True)
class CueFile:
    """What a cue file holds: the cues (centiseconds), the recording's path and duration (centiseconds)."""

    cues: list[Cue]
    duration: int
    sound_file: str = ""


def format_for(path: str | Path, explicit: str | None = None) -> str:
    """The format named by ``explicit`` or by the file's extension."""
    name = (explicit or Path(path).suffix.lstrip(".")).lower()
    if name not in FORMATS:
        raise InvalidParams(f"unknown cue format {name!r}", fix=f"use one of {', '.join(FORMATS)} (--format or the extension)",
                            details={"allowed": list(FORMATS)})
    return name


def _seconds(centiseconds: int) -> str:
    return f"{centiseconds // 100}.{centiseconds % 100:02d}"


def _rest(cues: Sequence[Cue]) -> str:
    """X, or A when the animation's shape set has no X."""
    return "X" if not cues or any(cue.shape == "X" for cue in cues) else "A"


def _or_rest(cue_file: CueFile) -> list[Cue]:
    return list(cue_file.cues) or [Cue(0, 0, "X")]


def render(cue_file: CueFile, fmt: str, *, fps: float = 24.0, preston_blair: bool = False) -> str:
    """The text of a cue file in ``fmt``."""
    fmt = format_for("", fmt)
    cues = list(cue_file.cues)
    if fmt == "tsv":
        lines = [f"{_seconds(cue.start)}\t{cue.shape}" for cue in cues]
        return "".join(line + "\n" for line in lines + [f"{_seconds(cue_file.duration)}\t{_rest(cues)}"])
    if fmt == "json":
        rows = ",\n".join(f'    {{ "start": {_seconds(cue.start)}, "end": {_seconds(cue.end)}, "value": "{cue.shape}" }}'
                          for cue in _or_rest(cue_file))
        sound = json.dumps(cue_file.sound_file, ensure_ascii=False)
        return (f'{{\n  "metadata": {{\n    "soundFile": {sound},\n    "duration": {_seconds(cue_file.duration)}\n  }},\n'
                f'  "mouthCues": [\n{rows}\n  ]\n}}\n')
    if fmt == "xml":
        rows = "".join(f'    <mouthCue start="{_seconds(cue.start)}" end="{_seconds(cue.end)}">{cue.shape}</mouthCue>\n'
                       for cue in _or_rest(cue_file))
        return ('<?xml version="1.0" encoding="utf-8"?>\n<rhubarbResult>\n  <metadata>\n'
                f'    <soundFile>{escape(cue_file.sound_file)}</soundFile>\n'
                f'    <duration>{_seconds(cue_file.duration)}</duration>\n  </metadata>\n'
                f'  <mouthCues>\n{rows}  </mouthCues>\n</rhubarbResult>\n')
    if not (isinstance(fps, (int, float)) and _DAT_FPS[0] <= fps <= _DAT_FPS[1]):
        raise InvalidParams(f"Moho .dat needs a frame rate within {_DAT_FPS[0]:g}..{_DAT_FPS[1]:g} fps, got {fps!r}")
    name = (lambda shape: PRESTON_BLAIR[shape]) if preston_blair else (lambda shape: shape)
    lines, last = ["MohoSwitch1"], 0
    for cue in cues:
        frame = 1 + int(fps * cue.start / 100)
        if frame == last:
            continue
        lines.append(f"{frame} {name(cue.shape)}")
        last = frame
    end = 1 + int(fps * cue_file.duration / 100)
    lines.append(f"{end + 1 if end == last else end} {name(_rest(cues))}")
    return "".join(line + "\n" for line in lines)


def write(path: str | Path, cue_file: CueFile, fmt: str | None = None, *, fps: float = 24.0,
          preston_blair: bool = False) -> Path:
    """Write a cue file atomically in the format named by ``fmt`` or the extension."""
    text = render(cue_file, format_for(path, fmt), fps=fps, preston_blair=preston_blair)
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8", newline="\n")
    return path


def _centiseconds(text: object) -> int:
    value = float(text)  # type: ignore[arg-type]
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"time {text!r} is not a non-negative number of seconds")
    return round(value * 100)


def _shape(text: str) -> str:
    shape = _FROM_PRESTON_BLAIR.get(text, text)
    if shape not in SHAPES:
        raise ValueError(f"{text!r} is not a mouth shape")
    return shape


def _joined(starts: list[tuple[int, str]], end: int) -> list[Cue]:
    """Cues from start times, each ending where the next starts."""
    return [Cue(start, following, shape)
            for (start, shape), following in zip(starts, [start for start, _ in starts[1:]] + [end])]


def parse(text: str, fmt: str, *, fps: float = 24.0) -> CueFile:
    """Read a cue file's text; a malformed file is a :class:`MediaError` naming the problem."""
    fmt = format_for("", fmt)
    try:
        if fmt == "json":
            data = json.loads(text)
            cues = [Cue(_centiseconds(cue["start"]), _centiseconds(cue["end"]), _shape(cue["value"]))
                    for cue in data["mouthCues"]]
            metadata = data.get("metadata", {})
            duration = _centiseconds(metadata["duration"]) if "duration" in metadata else max((c.end for c in cues), default=0)
            return CueFile([cue for cue in cues if cue.end > cue.start], duration, str(metadata.get("soundFile", "")))
        if fmt == "xml":
            root = ElementTree.fromstring(text.encode("utf-8"))
            cues = [Cue(_centiseconds(cue.get("start")), _centiseconds(cue.get("end")), _shape((cue.text or "").strip()))
                    for cue in root.iter("mouthCue")]
            duration = root.findtext("metadata/duration")
            return CueFile([cue for cue in cues if cue.end > cue.start],
                           _centiseconds(duration) if duration else max((c.end for c in cues), default=0),
                           root.findtext("metadata/soundFile") or "")
        rows = [line.split() if fmt == "dat" else line.split("\t") for line in text.splitlines() if line.strip()]
        if fmt == "tsv":
            starts = [(_centiseconds(time), _shape(shape.strip())) for time, shape in rows]
            return CueFile(_joined(starts[:-1], starts[-1][0]), starts[-1][0])
        if not rows or rows[0] != ["MohoSwitch1"]:
            raise ValueError("a Moho switch file starts with MohoSwitch1")
        frames = [(int(frame), _shape(shape)) for frame, shape in rows[1:]]
        starts = [(round((frame - 1) * 100 / fps), shape) for frame, shape in frames]
        return CueFile(_joined(starts[:-1], starts[-1][0]), starts[-1][0])
    except (ValueError, KeyError, TypeError, IndexError, ElementTree.ParseError) as error:
        raise MediaError(f"not a valid Rhubarb {fmt} cue file: {error}") from None


def read(path: str | Path, fmt: str | None = None, *, fps: float = 24.0) -> CueFile:
    """Read a Rhubarb cue file (the format from ``fmt`` or the extension)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"no cue file at {path}")
    return parse(path.read_text(encoding="utf-8"), format_for(path, fmt), fps=fps)
