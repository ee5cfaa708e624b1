"""Where captures go on disk, and the knob values of the Read node that shows a result.

Nuke's intermediate frames go to a temporary capture folder, removed after the
job. Results are staged and published all at once by
:class:`framebridge.protocol.sequence.StagedSequence`, as ``frame_####.exr``
(Nuke's ``####``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from framebridge.protocol.errors import InvalidParams

__all__ = ["CaptureFolder", "nuke_path", "read_knobs", "beside"]


def nuke_path(path: str | os.PathLike[str]) -> str:
    """A path as Nuke's file knobs want it: forward slashes on every platform."""
    return str(path).replace("\\", "/")


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
        "raw": op != "restyle",  # expression: rgba is linear already; its face_matte and stmap layers are data
        "on_error": "error",
        "label": f"FrameBridge {op}",
    }


def beside(xpos: int, ypos: int, width: int = 80, gap: int = 40) -> tuple[int, int]:
    """Node-graph position just right of a node at ``(xpos, ypos)`` that is ``width`` wide."""
    return int(xpos) + int(width) + gap, int(ypos)
