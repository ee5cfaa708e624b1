"""``echo``: returns every input frame unchanged, for diagnostics and transport benchmarks."""

from __future__ import annotations

import time
from typing import Any, Iterator, Mapping

import numpy as np

from framebridge.protocol.buffers import digest
from framebridge.protocol.errors import FrameFailed, InvalidParams

from .base import NO_JOB_BUFFERS, FrameFailure, InputFrame, JobContext, Op, OutputFrame, check_params


class EchoOp(Op):
    name = "echo"
    summary = ("Return each frame as sent. `delay` (seconds per frame) and `fail` (frame numbers) simulate slow and "
               "failing ops; job-level buffers are taken and named with their digests in each result's meta.")

    def describe(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "params": {
                "delay": {"type": "float", "default": 0.0, "min": 0.0, "max": 60.0},
                "fail": {"type": "list[int]", "default": []},
            },
            "inputs": "any buffers",
            "job_buffers": "any; each result's meta.job_buffers maps their names to their digests",
            "backends": ["builtin"],
        }

    def prepare(self, params: dict[str, Any], shot: dict[str, Any], frames: list[int], backend: str | None,
                job_buffers: Mapping[str, np.ndarray] = NO_JOB_BUFFERS) -> dict[str, Any]:
        check_params(params, {"delay": (int, float), "fail": list})
        delay = float(params.get("delay", 0.0))
        if not 0.0 <= delay <= 60.0:
            raise InvalidParams(f"delay must be within 0..60 seconds, got {delay}")
        fail = params.get("fail", [])
        if not all(type(number) is int for number in fail):
            raise InvalidParams("fail must be a list of frame numbers")
        if backend not in (None, "builtin"):
            raise InvalidParams(f"echo has no backend {backend!r}", details={"allowed": ["builtin"]})
        received = {name: digest(array) for name, array in sorted(job_buffers.items())}
        return {"delay": delay, "fail": set(fail), "meta": {"job_buffers": received} if received else {}}

    def run(self, plan: dict[str, Any], frames: Iterator[InputFrame], context: JobContext) -> Iterator[OutputFrame | FrameFailure]:
        for frame in frames:
            if plan["delay"]:
                time.sleep(plan["delay"])
            if frame.number in plan["fail"]:
                yield FrameFailure(frame.number, FrameFailed(f"frame {frame.number} failed on request"))
            else:
                yield OutputFrame(frame.number, dict(frame.buffers), dict(plan["meta"]))
