"""Chunk results back into one stream in submit order, with the frames two chunks return cross-faded.

Chunks finish in any order and an actor that died may have its chunk run again,
so results arrive out of order and some twice; :class:`InOrder` keeps each
chunk's first result per frame and releases frame after frame of the job's
submit order as soon as every chunk that returns it has either given its result
or ended. A frame two chunks return (a fade frame: the end of one chunk, the
warm-up of the next) is released cross-faded; if either of the two failed it,
the owning chunk's outcome is released as it is.
"""

from __future__ import annotations

from typing import Iterator, Sequence

from ..chunks import Chunk, fade_weight, join_fade
from ..ops.base import FrameFailure, OutputFrame

__all__ = ["InOrder"]


class InOrder:
    """Collects ``(chunk, result)`` pairs of one job and releases results in submit order."""

    def __init__(self, frames: Sequence[int], chunks: Sequence[Chunk]):
        self.frames = list(frames)
        self.position = 0
        self._returning: dict[int, list[Chunk]] = {}
        for chunk in chunks:
            for number in chunk.returned:
                self._returning.setdefault(number, []).append(chunk)
        self._arrived: dict[int, dict[int, OutputFrame | FrameFailure]] = {}
        self._ended: set[int] = set()
        self._released: set[int] = set()

    @property
    def complete(self) -> bool:
        return self.position >= len(self.frames)

    def add(self, chunk: Chunk, item: OutputFrame | FrameFailure) -> None:
        """File one result of ``chunk``; a repeat (the chunk run again) or a frame already released is ignored."""
        if item.number in self._released or chunk not in self._returning.get(item.number, ()):
            return
        self._arrived.setdefault(item.number, {}).setdefault(chunk.index, item)

    def end(self, chunk: Chunk) -> None:
        """``chunk`` will give no more results: the frames it did not return are left to the other chunks."""
        self._ended.add(chunk.index)

    def restart(self, chunk: Chunk) -> None:
        """``chunk`` runs again (its worker was lost); its results so far stay, repeats are ignored."""
        self._ended.discard(chunk.index)

    def released(self) -> Iterator[OutputFrame | FrameFailure]:
        """Every result that can leave now, in submit order; frames no chunk produced are skipped once all have ended."""
        while not self.complete:
            number = self.frames[self.position]
            chunks = self._returning.get(number, [])
            arrived = self._arrived.get(number, {})
            if any(chunk.index not in arrived and chunk.index not in self._ended for chunk in chunks):
                return
            self.position += 1
            self._released.add(number)
            outcome = self._combine(number, chunks, self._arrived.pop(number, {}))
            if outcome is not None:
                yield outcome

    @staticmethod
    def _combine(number: int, chunks: list[Chunk], arrived: dict[int, OutputFrame | FrameFailure]) -> OutputFrame | FrameFailure | None:
        owner = next((chunk for chunk in chunks if number in chunk.frames), None)
        owned = arrived.get(owner.index) if owner is not None else None
        later = next((chunk for chunk in chunks if chunk is not owner and number in chunk.fade), None)
        faded = arrived.get(later.index) if later is not None else None
        if owned is None:
            return faded
        if not isinstance(owned, OutputFrame) or not isinstance(faded, OutputFrame):
            return owned
        weight = fade_weight(later, number)
        return OutputFrame(number, join_fade(owned.buffers, faded.buffers, weight), {**owned.meta, "chunk_fade": round(weight, 4)})
