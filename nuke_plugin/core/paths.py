"""Where captures go on disk, and the knob values of the Read node that shows a result.

Nuke's intermediate frames go to a temporary capture folder, removed after the
job. Each send publishes into a new version folder (``v001``, ``v002``, ... inside
the node's output folder), so earlier Read nodes keep showing what they showed and
a shorter send never mixes with stale frames. Results are staged and published all
at once by :class:`framebridge.protocol.sequence.StagedSequence`, as
``frame_####.exr`` (Nuke's ``####``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from framebridge.protocol.errors import InvalidParams

__all__ = ["CaptureFolder", "removed_on_failure", "nuke_path", "version_folder", "read_knobs", "beside"]

_VERSION = re.compile(r"^v(\d{3,})$")


def nuke_path(path: str | os.PathLike[str]) -> str:
    """A path as Nuke's file knobs want it: forward slashes on every platform."""
    return str(path).replace("\\", "/")


def version_folder(base: str | os.PathLike[str]) -> Path:
    """The folder for the next send under ``base``: one past the highest ``vNNN``, or that one again if it is empty.

    An empty last version is what a failed or cancelled send leaves (it publishes nothing), so it is reused.
    """
    base = Path(base)
    versions = sorted(int(match.group(1)) for match in map(_VERSION.match, os.listdir(base) if base.is_dir() else ())
                      if match)
    if versions:
        last = base / f"v{versions[-1]:03d}"
        if not any(name for name in os.listdir(last) if not name.startswith(".")):
            return last
    return base / f"v{(versions[-1] if versions else 0) + 1:03d}"


class CaptureFolder:
    """A temporary folder for the frames the internal Write node renders; removed by :meth:`remove`."""

    def __init__(self, parent: str | os.PathLike[str] | None = None):
        self.folder = Path(tempfile.mkdtemp(prefix="framebridge-nuke-", dir=parent))

    @property
    def pattern(self) -> str:
        """The Write node's ``file`` value (one view per capture, named by the Write's ``views`` knob)."""
        return nuke_path(self.folder / "capture.%04d.exr")

    def path(self, number: int) -> Path:
        return self.folder / f"capture.{number:04d}.exr"

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def removed_on_failure(*folders: CaptureFolder) -> Iterator[None]:
    """The capture ``folders`` removed if the block raises (anything, a cancel too), kept otherwise."""
    try:
        yield
    except BaseException:
        for folder in folders:
            folder.remove()
        raise


def read_knobs(folder: str | os.PathLike[str], frames: Iterable[int], op: str) -> dict[str, object]:
    """Knob values of the Read node that shows a published result sequence.

    The frames must be contiguous (one file per frame). Everything is read ``raw``:
    restyled beauty comes back in the script's working space (the server converts
    back), and condition images are data. ``file`` is meant for ``fromUserText``
    together with the range (``file_text``), which also reads the format.
    """
    frames = sorted(frames)
    if not frames:
        raise InvalidParams("there are no result frames to read")
    if frames != list(range(frames[0], frames[0] + len(frames))):
        raise InvalidParams(f"result frames {frames} are not contiguous; a Read node needs one file per frame")
    pattern = nuke_path(Path(folder).resolve() / "frame_####.exr")
    return {
        "file": pattern,
        "file_text": f"{pattern} {frames[0]}-{frames[-1]}",
        "first": frames[0],
        "last": frames[-1],
        "origfirst": frames[0],
        "origlast": frames[-1],
        "raw": True,
        "on_error": "error",
        "label": f"FrameBridge {op}\n{Path(folder).name}",
    }


def beside(xpos: int, ypos: int, width: int = 80, gap: int = 40) -> tuple[int, int]:
    """Node-graph position just right of a node at ``(xpos, ypos)`` that is ``width`` wide."""
    return int(xpos) + int(width) + gap, int(ypos)
