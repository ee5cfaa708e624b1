"""A job run as separate chunks in one process and joined: the reference a pool or a farm must reproduce.

Each chunk of :func:`~.chunks.plan_chunks` is its own :meth:`Op.run` call over its
``run`` frames, with the plan prepared once for the whole job (so keyframes, seeds
and depth ranges are the job's, not the chunk's); its ``returned`` results are
kept, and a fade frame's two results are blended buffer by buffer
(:func:`~.chunks.join_fade`). Tests compare this with one run of the whole job; the seam
benchmark measures it.
"""

from __future__ import annotations

import uuid
from typing import Any, Mapping, Sequence

import numpy as np

from .chunks import Chunk, ChunkRule, fade_weight, join_fade, plan_chunks
from .ops.base import FrameFailure, InputFrame, JobContext, Op, OutputFrame

__all__ = ["run_chunk", "run_chunked"]


def run_chunk(op: Op, plan: Any, chunk: Chunk, inputs: Mapping[int, InputFrame], shot: Mapping[str, Any] | None = None,
              job_buffers: Mapping[str, np.ndarray] | None = None) -> dict[int, OutputFrame | FrameFailure]:
    """One chunk's results for the frames it returns (its lead and tail frames run, their results are dropped)."""
    context = JobContext(job_id=uuid.uuid4().hex, frames=list(chunk.run), shot=dict(shot or {}), cancelled=lambda: False,
                         job_buffers=dict(job_buffers or {}))
    returned = set(chunk.returned)
    return {item.number: item for item in op.run(plan, (inputs[number] for number in chunk.run), context)
            if item.number in returned}


def run_chunked(op: Op, plan: Any, frames: Sequence[InputFrame], count: int, rule: ChunkRule | None = None,
                shot: Mapping[str, Any] | None = None,
                job_buffers: Mapping[str, np.ndarray] | None = None) -> dict[int, OutputFrame | FrameFailure]:
    """Every frame's result with the job split into ``count`` chunks under ``rule`` (default: the op's own)."""
    inputs = {frame.number: frame for frame in frames}
    chunks = plan_chunks([frame.number for frame in frames], count, op.chunking(plan) if rule is None else rule)
    results: dict[int, OutputFrame | FrameFailure] = {}
    for chunk in chunks:
        for number, item in run_chunk(op, plan, chunk, inputs, shot, job_buffers).items():
            earlier = results.get(number)
            if isinstance(earlier, OutputFrame) and isinstance(item, OutputFrame):
                item = OutputFrame(number, join_fade(earlier.buffers, item.buffers, fade_weight(chunk, number)), item.meta)
            results[number] = earlier if isinstance(item, FrameFailure) and isinstance(earlier, OutputFrame) else item
    return results
