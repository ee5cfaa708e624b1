"""What `framebridge run expression` sends: the pairing of the driving clip, the reference and a still source."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framebridge.protocol import passes
from framebridge.protocol.errors import InvalidParams

from ..sequences import FramePattern, read_frame, read_still

__all__ = ["ExpressionRun", "plan_expression_run"]


@dataclass(frozen=True)
class ExpressionRun:
    frames: list[int]
    params: dict[str, Any]
    job_buffers: dict[str, np.ndarray]
    paired: dict[str, tuple[str, int]]


def plan_expression_run(driving: str, *, input_pattern: str | None, source: str | Path | None, frames: list[int] | None,
                        driving_offset: int | None, reference_frame: int | None, params: dict[str, Any]) -> ExpressionRun:
    """The frames, params and buffers of an expression run over a driving clip on disk.

    The op checks the pairing (``driving_range`` and ``driving_offset``) before any frame moves; the
    reference frame (default the clip's first) always travels as the job buffer ``reference``.
    """
    if (input_pattern is None) == (source is None):
        raise InvalidParams("give the target as --input (a plate's frames) or --source (one still), not both or neither")
    clip = FramePattern(driving)
    available = clip.existing_frames()
    if not available:
        raise InvalidParams(f"no driving frames match {driving}", fix="check the --driving pattern")
    params = {**params, "driving_range": [available[0], available[-1]]}
    offset = 0 if driving_offset is None else driving_offset
    if driving_offset is not None:
        params["driving_offset"] = driving_offset
    if not frames:
        frames = FramePattern(input_pattern).existing_frames() if input_pattern else [number - offset for number in available]
    reference = available[0] if reference_frame is None else reference_frame
    if reference not in available:
        raise InvalidParams(f"the reference frame {reference} is not in the driving clip ({available[0]}-{available[-1]})",
                            details={"param": "reference_frame"})
    job_buffers = {"reference": read_frame(clip, reference)[passes.BEAUTY]}
    if source is not None:
        job_buffers["source"] = read_still(Path(source))[passes.BEAUTY]
    return ExpressionRun(list(frames), params, job_buffers, {"driving": (driving, offset)})
