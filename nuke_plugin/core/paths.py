"""Where captures and results go on disk, staged publication, and the result Read node's knob values.

Nuke's intermediate frames go to a temporary capture folder, removed after the
job. Results are written to a staging folder inside the output folder and moved
into place (``os.replace``, one atomic rename per frame) only when every frame came
back; a cancelled or failed job removes its staging folder, so the output folder
never holds a partial sequence from it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from framebridge.protocol.errors import InvalidParams

__all__ = [
    "CaptureFolder",
    "frame_filename",
    "frame_path",
    "existing_frames",
    "nuke_path",
    "StagedSequence",
    "read_knobs",
    "beside",
]

_FRAME_FILE = re.compile(r"^frame_(-?\d+)\.exr$")


def nuke_path(path: str | os.PathLike[str]) -> str:
    """A path as Nuke's file knobs want it: forward slashes on every platform."""
    return str(path).replace("\\", "/")


def frame_filename(number: int) -> str:
    """``frame_0001.exr``: four digits at least, as Nuke's ``####`` pads."""
    return f"frame_{number:04d}.exr"


def frame_path(folder: str | os.PathLike[str], number: int) -> Path:
    return Path(folder) / frame_filename(number)


def existing_frames(folder: str | os.PathLike[str]) -> list[int]:
    """Frame numbers of the ``frame_####.exr`` files in a folder, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(int(match.group(1)) for match in map(_FRAME_FILE.match, os.listdir(folder)) if match)


class CaptureFolder:
    """A temporary folder for the frames the internal Write node renders; removed by :meth:`remove`."""

    def __init__(self, parent: str | os.PathLike[str] | None = None):
        self.folder = Path(tempfile.mkdtemp(prefix="framebridge-nuke-", dir=parent))

    @property
    def pattern(self) -> str:
        """The Write node's ``file`` value."""
        return nuke_path(self.folder / "capture.####.exr")

    def path(self, number: int) -> Path:
        return self.folder / f"capture.{number:04d}.exr"

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class StagedSequence:
    """An EXR sequence written frame by frame, published all at once or not at all."""

    def __init__(self, folder: str | os.PathLike[str], write: Callable[[Path, Mapping[str, np.ndarray]], object]):
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


def read_knobs(folder: str | os.PathLike[str], frames: Iterable[int], op: str) -> dict[str, object]:
    """Knob values of the Read node that shows a published result sequence.

    The frames must be contiguous (one file per frame). Restyled beauty is
    scene-linear (``colorspace`` linear); condition images are data, read ``raw``.
    """
    frames = sorted(frames)
    if not frames:
        raise InvalidParams("there are no result frames to read")
    if frames != list(range(frames[0], frames[0] + len(frames))):
        raise InvalidParams(f"result frames {frames} are not contiguous; a Read node needs one file per frame")
    return {
        "file": nuke_path(Path(folder).resolve() / "frame_####.exr"),
        "first": frames[0],
        "last": frames[-1],
        "origfirst": frames[0],
        "origlast": frames[-1],
        "colorspace": "linear",
        "raw": op != "restyle",
        "on_error": "error",
        "label": f"FrameBridge {op}",
    }


def beside(xpos: int, ypos: int, width: int = 80, gap: int = 40) -> tuple[int, int]:
    """Node-graph position just right of a node at ``(xpos, ypos)`` that is ``width`` wide."""
    return int(xpos) + int(width) + gap, int(ypos)
