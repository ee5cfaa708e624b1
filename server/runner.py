"""Headless runs: an op over a frame sequence on disk, for the command line and render farms.

In-process by default (no server, no socket: one farm task is one process), or
through a running server when a connection file is given, so models already
loaded on its GPU are reused. Each result is written atomically as soon as it
exists; a rerun after an interruption recomputes only what the op's cache lacks.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from framebridge.protocol import passes
from framebridge.protocol.errors import FrameBridgeError, MediaError, UnknownOp

from .ops import default_ops
from .ops.base import FrameFailure, InputFrame, JobContext
from .sequences import FramePattern, read_frame, write_result

__all__ = ["RunReport", "run_sequence", "ProgressLine"]


@dataclass
class RunReport:
    """What a run produced: files per frame, failures per frame, timings."""

    written: dict[int, list[Path]] = field(default_factory=dict)
    failed: dict[int, FrameBridgeError] = field(default_factory=dict)
    seconds: float = 0.0
    meta: dict[int, dict[str, Any]] = field(default_factory=dict)


class ProgressLine:
    """A one-line progress bar on a terminal (plain lines when not a terminal)."""

    def __init__(self, label: str, total: int, stream=sys.stderr):
        self.label, self.total, self.stream = label, total, stream
        self.start = time.monotonic()
        self.count = 0

    def __call__(self, frame: int) -> None:
        self.count += 1
        elapsed = time.monotonic() - self.start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.count) / rate if rate else 0.0
        filled = int(24 * self.count / self.total)
        line = f"{self.label} [{'#' * filled}{'.' * (24 - filled)}] {self.count}/{self.total} frame {frame} {rate:.2f} fps eta {eta:.0f}s"
        if self.stream.isatty():
            self.stream.write("\r" + line + ("\n" if self.count == self.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def run_sequence(op_name: str, input_pattern: str | None, output_pattern: str, frames: list[int] | None = None, *,
                 params: dict[str, Any] | None = None, shot: dict[str, Any] | None = None, backend: str | None = None,
                 connection_file: str | Path | None = None, half: bool = False,
                 on_frame: Callable[[int], None] | None = None,
                 job_buffers: Mapping[str, np.ndarray] | None = None,
                 paired: Mapping[str, tuple[str, int]] | None = None) -> RunReport:
    """Run ``op_name`` over the input frames and write every result; failures are reported, not raised.

    ``job_buffers`` go with the submit, once for the whole job (a source portrait, an audio track).
    ``paired`` adds per-frame buffers from other sequences: ``{name: (pattern, offset)}`` sends the
    image of frame n + offset of that sequence as buffer ``name`` with frame n (a driving clip).
    Without an input pattern, frames hold only the paired buffers.
    """
    target = FramePattern(output_pattern)
    source = FramePattern(input_pattern) if input_pattern is not None else None
    read = _frame_reader(source, {name: (FramePattern(pattern), offset) for name, (pattern, offset) in (paired or {}).items()})
    frames = frames or (source.existing_frames() if source is not None else [])
    if not frames:
        raise FrameBridgeError(f"no input frames match {input_pattern}", fix="check the path, or pass --frames")
    params, shot = dict(params or {}), dict(shot or {})
    if source is not None and _wants_shot_depth_range(op_name, params, shot):
        shot["depth_range"] = _scan_depth_range(source, frames)
    report = RunReport()
    start = time.monotonic()

    def finish(number: int, buffers: dict[str, Any] | None, error: FrameBridgeError | None, meta: dict[str, Any]) -> None:
        if error is None:
            try:
                report.written[number] = write_result(target, number, buffers, half=half)
                report.meta[number] = meta
            except FrameBridgeError as write_error:
                report.failed[number] = write_error
        else:
            report.failed[number] = error
        if on_frame:
            on_frame(number)

    job_buffers = dict(job_buffers or {})
    if connection_file is None:
        _run_in_process(op_name, read, frames, params, shot, backend, job_buffers, finish)
    else:
        _run_on_server(op_name, read, frames, params, shot, backend, job_buffers, Path(connection_file), finish)
    report.seconds = time.monotonic() - start
    return report


def _wants_shot_depth_range(op_name: str, params: dict[str, Any], shot: dict[str, Any]) -> bool:
    """An extract or restyle asking for a depth condition, with no depth range given in params or shot."""
    if op_name not in ("extract", "restyle") or params.get("depth_range") is not None or shot.get("depth_range") is not None:
        return False
    conditions = params.get("conditions")
    return isinstance(conditions, (list, tuple, dict)) and passes.DEPTH in conditions


def _scan_depth_range(source: FramePattern, frames: list[int]) -> list[float] | None:
    """The shot's foreground depth range over every input frame's depth pass, read one frame at a time.

    Unreadable frames and frames without depth are skipped here; the run itself reports them.
    """

    def depths() -> Iterator[Any]:
        for number in frames:
            try:
                depth = read_frame(source, number).get(passes.DEPTH)
            except FrameBridgeError:
                continue
            if depth is not None:
                yield depth

    return passes.shot_depth_range(depths())


def _frame_reader(source: FramePattern | None,
                  paired: dict[str, tuple[FramePattern, int]]) -> Callable[[int], dict[str, np.ndarray]]:
    """Reads frame n: the input's buffers, plus each paired sequence's frame n + offset as one named buffer."""

    def read(number: int) -> dict[str, np.ndarray]:
        buffers = read_frame(source, number) if source is not None else {}
        for name, (pattern, offset) in paired.items():
            image = read_frame(pattern, number + offset).get(passes.BEAUTY)
            if image is None:
                raise MediaError(f"{pattern.path(number + offset)} has no colour image to send as {name!r}")
            buffers[name] = image
        return buffers

    return read


def _run_in_process(op_name, read, frames, params, shot, backend, job_buffers, finish) -> None:
    ops = default_ops()
    if op_name not in ops:
        raise UnknownOp(f"unknown op {op_name!r}", details={"allowed": sorted(ops)})
    op = ops[op_name]
    job_buffers = MappingProxyType(job_buffers)
    plan = op.prepare(params, shot, frames, backend, job_buffers)
    context = JobContext(job_id=uuid.uuid4().hex, frames=list(frames), shot=shot, cancelled=lambda: False,
                         job_buffers=job_buffers)
    unread: dict[int, FrameBridgeError] = {}

    def inputs() -> Iterator[InputFrame]:
        for number in frames:
            try:
                yield InputFrame(number, read(number))
            except FrameBridgeError as error:
                unread[number] = error
                finish(number, None, error, {})

    done = set()
    for item in op.run(plan, inputs(), context):
        done.add(item.number)
        if isinstance(item, FrameFailure):
            finish(item.number, None, item.error, {})
        else:
            finish(item.number, dict(item.buffers), None, item.meta)
    for number in frames:
        if number not in done and number not in unread:
            finish(number, None, FrameBridgeError(f"the {op_name} op produced no result for frame {number}"), {})


def _run_on_server(op_name, read, frames, params, shot, backend, job_buffers, connection_file, finish) -> None:
    from framebridge.protocol.client import Client, DoneEvent, ResultEvent

    with Client(connection_file) as client:
        job = client.submit(op_name, frames, read, params=params, shot=shot,
                            backend=backend, keep_results=False, job_buffers=job_buffers)
        try:
            for event in job:
                if isinstance(event, ResultEvent):
                    finish(event.frame, event.buffers, None, event.meta)
                elif isinstance(event, DoneEvent):
                    for number, error in event.failed.items():
                        finish(number, None, error, {})
        finally:
            if not job.finished:
                job.cancel()
