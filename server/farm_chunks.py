"""Chunks of a shot run as separate farm tasks (`framebridge run ... --chunk K/N`) and their cross-fades joined after.

Every task prepares the op for the whole shot, plans the same chunks under the op's
rule (:func:`~.chunks.plan_chunks`), runs its chunk's lead, own and tail frames and
writes only the frames it owns to the output. Tasks never see each other, so the
frames two chunks both return (the later chunk's fade frames) are also written by
both, losslessly as float EXRs, into a side folder beside the output,
``.framebridge-fade/<output name>/chunk-K/``, with a small JSON record per chunk of
its fade frames and weights. ``framebridge join --output PATTERN``, run once every
chunk is done (a dependent step), blends each pair as the Ray pool does and writes
the output frame again, atomically; it only reads the side folder, so running it
twice gives the same files. Without the join, the output is the warm-up-only result
(every frame the owner's, no cross-fade).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framebridge.protocol import exr, passes
from framebridge.protocol.errors import InvalidParams, MediaError
from framebridge.protocol.files import atomic_path

from .chunks import Chunk, ChunkRule, fade_weight, join_fade, plan_chunks
from .sequences import FramePattern, write_result

__all__ = ["parse_chunk", "FarmChunk", "farm_chunk", "join_fades", "JoinReport"]

_CHUNK = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_chunk(text: str) -> tuple[int, int]:
    """``"K/N"`` (chunk K of N, from 1) as a pair; anything else is an :class:`InvalidParams`."""
    match = _CHUNK.match(text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise InvalidParams(f"--chunk {text!r} is not K/N with 1 <= K <= N", fix="e.g. --chunk 2/8 runs the second of 8 chunks")
    return int(match[1]), int(match[2])


def _side_folder(output_pattern: str) -> Path:
    output = Path(output_pattern)
    name = hashlib.sha256(output_pattern.encode()).hexdigest()[:12]
    return output.parent / ".framebridge-fade" / name


@dataclass(frozen=True)
class FarmChunk:
    """This task's chunk, which frames it also writes beside the output, and where."""

    index: int                        # from 1, as on the command line
    count: int                        # the chunks the op's rule makes of the shot (at most N)
    chunk: Chunk | None               # None: the rule made fewer chunks than N and this task has nothing to do
    rule: ChunkRule
    side: frozenset[int]              # overlap frames it also writes aside: its fade frames, the next chunk's
    folder: Path

    def side_path(self, number: int) -> Path:
        return self.folder / f"chunk-{self.index}" / f"{number}.exr"

    def write_side(self, number: int, buffers: dict[str, np.ndarray]) -> None:
        """This chunk's result of an overlap frame, lossless, for the join."""
        path = self.side_path(number)
        path.parent.mkdir(parents=True, exist_ok=True)
        exr.write_exr(path, {name: np.asarray(array, np.float32) for name, array in buffers.items()
                             if np.asarray(array).dtype.kind == "f"})

    def write_record(self, output_pattern: str, half: bool) -> None:
        """The fade frames of this chunk with its weights, for the join (written when the chunk has any)."""
        if not self.chunk or not self.chunk.fade:
            return
        record = {"output": output_pattern, "half": half, "chunk": self.index,
                  "fade": {str(number): fade_weight(self.chunk, number) for number in self.chunk.fade}}
        path = self.folder / f"chunk-{self.index}.json"
        with atomic_path(path) as temporary:
            Path(temporary).write_text(json.dumps(record, indent=1))


def farm_chunk(frames: list[int], index: int, count: int, rule: ChunkRule, output_pattern: str) -> FarmChunk:
    """Chunk ``index`` of ``count`` of ``frames`` under the op's ``rule``, with the overlap frames it writes aside."""
    chunks = plan_chunks(frames, count, rule)
    folder = _side_folder(output_pattern)
    if index > len(chunks):
        return FarmChunk(index, len(chunks), None, rule, frozenset(), folder)
    chunk = chunks[index - 1]
    following = chunks[index].fade if index < len(chunks) else ()
    return FarmChunk(index, len(chunks), chunk, rule, frozenset(chunk.fade + following), folder)


@dataclass
class JoinReport:
    joined: list[int]
    missing: dict[int, str]  # frames whose overlap copies are not both there, and which is missing


def join_fades(output_pattern: str) -> JoinReport:
    """Cross-fade every overlap frame the chunks of ``output_pattern`` wrote aside, writing the output frame again."""
    folder = _side_folder(output_pattern)
    records = sorted(folder.glob("chunk-*.json")) if folder.is_dir() else []
    target = FramePattern(output_pattern)
    report = JoinReport([], {})
    for path in records:
        try:
            record: dict[str, Any] = json.loads(path.read_text())
            index, half, fades = int(record["chunk"]), bool(record["half"]), record["fade"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise MediaError(f"{path} is not a chunk's fade record ({error})",
                             fix="run the chunk again: it rewrites its record") from None
        for key, weight in sorted(fades.items(), key=lambda item: int(item[0])):
            number = int(key)
            earlier, later = (folder / f"chunk-{chunk}" / f"{number}.exr" for chunk in (index - 1, index))
            absent = [str(side) for side in (earlier, later) if not side.exists()]
            if absent:
                report.missing[number] = ", ".join(absent)
                continue
            blended = join_fade(_read(earlier), _read(later), float(weight))
            write_result(target, number, blended, half=half)
            report.joined.append(number)
    return report


def _read(path: Path) -> dict[str, np.ndarray]:
    return {name or passes.BEAUTY: array for name, array in exr.read_layers(path).items()}
