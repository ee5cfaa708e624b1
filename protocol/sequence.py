"""Result sequences in a folder: ``frame_####.exr`` names, and staged all-or-nothing publication.

Results are written to a staging folder inside the output folder and moved into
place (``os.replace``, one atomic rename per frame) only when the whole job
succeeded; a cancelled or failed job removes its staging folder, so the output
folder never holds a partial sequence from it. (:func:`~framebridge.protocol.files.atomic_path`
is the same guarantee for one file.)
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

__all__ = ["frame_filename", "frame_path", "existing_frames", "StagedSequence"]

_FRAME_FILE = re.compile(r"^frame_(-?\d+)\.exr$")


def frame_filename(number: int) -> str:
    """``frame_0001.exr``: four digits at least, as the ``####`` of Blender and Nuke pads."""
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
    """An EXR sequence written frame by frame, published all at once or not at all.

    ``write(path, buffers)`` writes one frame's file (its return value is ignored).
    """

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
