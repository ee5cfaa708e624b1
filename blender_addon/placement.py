"""How a published result sequence is placed in the scene, as plain values.

The sequence itself (``frame_####.exr`` files, staged and published all at once)
is :mod:`framebridge.protocol.sequence`.

Blender shows an image sequence through an image user: scene frame ``f`` shows
file number ``f - frame_start + 1 + frame_offset``, so a sequence whose first file
is ``frame_0010.exr`` placed at frame 10 needs ``frame_offset = 9``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from framebridge.protocol.errors import InvalidParams
from framebridge.protocol.sequence import frame_filename

__all__ = ["PLACEMENTS", "SequencePlacement", "plan_placement"]

PLACEMENTS = ("SEQUENCER", "COMPOSITOR", "CAMERA_BACKGROUND", "IMAGE_EDITOR", "NONE")


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
