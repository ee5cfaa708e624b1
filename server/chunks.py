"""Splitting a job's frames into chunks that run apart (Ray actors, farm tasks) and join without seams.

A chunk *owns* a contiguous run of the job's frames (in submit order) and returns
them. An op whose frames depend on earlier results (restyle with ``temporal`` on
warps the previous result into each frame) would start a fresh chain at a chunk's
first frame and show a seam there, so its :class:`ChunkRule` asks for a warm-up:
every chunk after the first also runs the ``warmup`` frames before its own, which
it does not return on their own; the last ``fade`` of them are the previous chunk's
final frames, returned by both chunks and cross-faded, the later chunk's weight
rising linearly (:func:`fade_weight`). An op whose frames depend on frames after
them runs a ``tail`` too. Where an op has frames nothing depends across (propagate's
keyframes), ``breaks`` names them and chunk boundaries go only there, at the nearest
one. An op whose every frame may depend on the whole shot (the most open mouth of a
plate so far) sets ``whole``: its job stays one chunk.

Cost: each chunk after the first computes ``warmup + tail`` frames more, so N chunks
cost ``(N - 1) * (warmup + tail)`` extra frames over one chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

__all__ = ["ChunkRule", "Chunk", "plan_chunks", "fade_weight", "cross_fade", "join_fade"]


@dataclass(frozen=True)
class ChunkRule:
    """How an op's frames may be split: frames run before and after a chunk, frames to cross-fade, frames to cut at."""

    warmup: int = 0
    fade: int = 0
    tail: int = 0
    breaks: tuple[int, ...] = ()
    whole: bool = False  # never split: a frame may depend on any other frame of the job

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.tail < 0 or not 0 <= self.fade <= self.warmup:
            raise ValueError(f"a chunk rule needs warmup, tail >= 0 and 0 <= fade <= warmup, got {self}")


@dataclass(frozen=True)
class Chunk:
    """One chunk: the frames it owns and returns, and the frames it runs around them."""

    index: int
    frames: tuple[int, ...]
    lead: tuple[int, ...] = ()  # run first, not returned on their own
    fade: tuple[int, ...] = ()  # the end of ``lead``: also returned, cross-faded with the previous chunk's results
    tail: tuple[int, ...] = ()  # run after ``frames``, never returned

    @property
    def run(self) -> tuple[int, ...]:
        """Every frame the chunk computes, in order."""
        return self.lead + self.frames + self.tail

    @property
    def returned(self) -> tuple[int, ...]:
        """The frames whose results leave the chunk: the fade frames, then its own."""
        return self.fade + self.frames


def plan_chunks(frames: Sequence[int], count: int, rule: ChunkRule = ChunkRule()) -> list[Chunk]:
    """Split ``frames`` (submit order) into at most ``count`` chunks of near-equal size under ``rule``.

    With ``rule.breaks``, boundaries go only to the nearest of them (one chunk when
    none lies after the first frame); a chunk that starts at a break needs no warm-up.
    With ``rule.whole``, the job is one chunk. No chunk is smaller than
    ``rule.warmup + 1`` frames unless the job is, so warming up never costs more
    than the chunk itself.
    """
    frames = list(frames)
    if count < 1:
        raise ValueError(f"chunk count must be >= 1, got {count}")
    if rule.whole:
        count = 1
    count = max(1, min(count, len(frames) // (rule.warmup + 1) if rule.warmup else len(frames)))
    starts = [round(index * len(frames) / count) for index in range(count)]
    break_positions = [position for position, number in enumerate(frames) if number in set(rule.breaks) and position > 0]
    if rule.breaks:
        starts = sorted({0} | {min(break_positions, key=lambda position: abs(position - start))
                               for start in starts[1:] if break_positions})
    starts = [start for start in starts if start < len(frames)] + [len(frames)]
    at_break = set(break_positions)
    chunks = []
    for index, (start, end) in enumerate(zip(starts, starts[1:])):
        warmup = 0 if index == 0 or start in at_break else rule.warmup
        fade = min(rule.fade, warmup)
        lead = tuple(frames[max(0, start - warmup):start])
        chunks.append(Chunk(index=index, frames=tuple(frames[start:end]), lead=lead,
                            fade=lead[len(lead) - fade:] if fade else (),
                            tail=tuple(frames[end:end + rule.tail])))
    return chunks


def fade_weight(chunk: Chunk, number: int) -> float:
    """The weight of ``chunk``'s own result for one of its fade frames; the previous chunk's result gets the rest."""
    position = chunk.fade.index(number)
    return (position + 1) / (len(chunk.fade) + 1)


def cross_fade(previous: np.ndarray, current: np.ndarray, weight: float) -> np.ndarray:
    """Blend two results of the same frame (``weight`` is the current chunk's); integer buffers keep the previous one's."""
    if previous.shape != current.shape or previous.dtype.kind != "f":
        return previous
    return (previous * (1.0 - weight) + current * weight).astype(previous.dtype)


def join_fade(previous: Mapping[str, np.ndarray], current: Mapping[str, np.ndarray], weight: float) -> dict[str, np.ndarray]:
    """One frame's two results blended per buffer (``weight`` is the later chunk's); buffers only one has are kept."""
    joined = dict(previous)
    for name, array in current.items():
        joined[name] = cross_fade(previous[name], array, weight) if name in previous else array
    return joined
