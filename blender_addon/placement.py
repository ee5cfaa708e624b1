"""Where results go on disk and how they are placed in the scene, as plain values.

Results are written to a staging folder inside the output folder and moved into
place (``os.replace``, one atomic rename per frame) only when the whole job
succeeded; a cancelled or failed job removes its staging folder, so the output
folder never holds a partial sequence from it.

Blender shows an image sequence through an image user: scene frame ``f`` shows
file number ``f - frame_start + 1 + frame_offset``, so a sequence whose first file
is ``frame_0010.exr`` placed at frame 10 needs ``frame_offset = 9``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from framebridge.protocol.errors import InvalidParams

__all__ = [
    "PLACEMENTS",
    "frame_filename",
    "frame_path",
    "existing_frames",
    "StagedSequence",
    "SequencePlacement",
    "plan_placement",
]

PLACEMENTS = ("SEQUENCER", "COMPOSITOR", "CAMERA_BACKGROUND", "IMAGE_EDITOR", "NONE")
_FRAME_FILE = re.compile(r"^frame_(-?\d+)\.exr$")


def frame_filename(number: int) -> str:
    """``frame_0001.exr``: four digits at least, as Blender's ``####`` pads."""
    return f"frame_{number:04d}.exr"


def frame_path(folder: str | os.PathLike[str], number: int) -> Path:
    return Path(folder) / frame_filename(number)


def existing_frames(folder: str | os.PathLike[str]) -> list[int]:
    """Frame numbers of the ``frame_####.exr`` files in a folder, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(int(match.group(1)) for match in map(_FRAME_FILE.match, os.listdir(folder)) if match)


class StagedSequence:
    """An EXR sequence written frame by frame, published all at once or not at all."""

    def __init__(self, folder: str | os.PathLike[str], write: Callable[[Path, Mapping[str, np.ndarray]], None]):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=".framebridge-staging-", dir=self.folder))
        self._write = write
        self.frames: list[int] = []

    def add(self, number: int, buffers: Mapping[str, np.ndarray]) -> None:
        """Write one result frame into the staging folder."""
        self._write(self.staging / frame_filename(number), buffers)
        self.frames.append(number)

    def publish(self) -> list[Path]:
        """Move every staged frame into the output folder and remove the staging folder."""
        published = []
        for number in sorted(self.frames):
            target = frame_path(self.folder, number)
            os.replace(self.staging / frame_filename(number), target)
            published.append(target)
        shutil.rmtree(self.staging, ignore_errors=True)
        return published

    def discard(self) -> None:
        """Remove everything this sequence wrote."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self.frames.clear()


@dataclass(frozen=True)
class SequencePlacement:
    """An EXR sequence on the scene's timeline: files, where it starts and the image-user numbers."""

    kind: str
    directory: str
    files: tuple[str, ...]
    frame_start: int
    frame_duration: int
    frame_offset: int
    name: str

    @property
    def first_path(self) -> str:
        return os.path.join(self.directory, self.files[0])


def plan_placement(kind: str, folder: str | os.PathLike[str], frames: Iterable[int], name: str = "FrameBridge") -> SequencePlacement:
    """Placement values for a contiguous run of result frames."""
    if kind not in PLACEMENTS:
        raise InvalidParams(f"unknown placement {kind!r}", details={"allowed": list(PLACEMENTS)})
    frames = sorted(frames)
    if not frames:
        raise InvalidParams("there are no result frames to place")
    if frames != list(range(frames[0], frames[0] + len(frames))):
        raise InvalidParams(f"result frames {frames} are not contiguous; a sequence needs one file per frame")
    return SequencePlacement(
        kind=kind,
        directory=str(Path(folder).resolve()),
        files=tuple(frame_filename(number) for number in frames),
        frame_start=frames[0],
        frame_duration=len(frames),
        frame_offset=frames[0] - 1,
        name=name,
    )
