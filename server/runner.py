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
from framebridge.protocol.buffers import digest
from framebridge.protocol.errors import FrameBridgeError, InvalidParams, MediaError, UnknownOp

from .farm_chunks import FarmChunk, farm_chunk
from .ops import default_ops
from .ops.base import FrameFailure, InputFrame, JobContext
from .run_manifest import RunManifest, file_identity, result_digest
from .sequences import FramePattern, check_output, read_frame, write_result

__all__ = ["RunReport", "run_sequence", "ProgressLine"]


@dataclass
class RunReport:
    """What a run produced: files per frame, failures per frame, what was already up to date, timings."""

    written: dict[int, list[Path]] = field(default_factory=dict)
    failed: dict[int, FrameBridgeError] = field(default_factory=dict)
    seconds: float = 0.0
    meta: dict[int, dict[str, Any]] = field(default_factory=dict)
    up_to_date: list[int] = field(default_factory=list)  # neither read, computed nor written: nothing had changed
    kept: list[int] = field(default_factory=list)  # computed (or served by the op's cache) with the result on disk
    chunk: FarmChunk | None = None  # with --chunk: the chunk this run was


class ProgressLine:
    """A one-line progress bar on a terminal (plain lines when not a terminal)."""

    def __init__(self, label: str, total: int, stream=None):
        self.label, self.total, self.stream = label, total, stream or sys.stderr  # the stderr of now, not of import time
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
                 paired: Mapping[str, tuple[str, int]] | None = None, chunk: tuple[int, int] | None = None) -> RunReport:
    """Run ``op_name`` over the input frames and write every result; failures are reported, not raised.

    ``job_buffers`` go with the submit, once for the whole job (a source portrait, an audio track).
    ``paired`` adds per-frame buffers from other sequences: ``{name: (pattern, offset)}`` sends the
    image of frame n + offset of that sequence as buffer ``name`` with frame n (a driving clip).
    Without an input pattern, frames hold only the paired buffers.
    A re-run skips what the run manifest (:mod:`.run_manifest`) shows is up to date.
    ``chunk`` (K, N) runs chunk K of N under the op's chunk rule and writes only the frames it owns
    (:mod:`.farm_chunks`).
    """
    target = FramePattern(output_pattern)
    source = FramePattern(input_pattern) if input_pattern is not None else None
    if source is not None:
        source.check_padding()
    frames = frames or (source.existing_frames() if source is not None else [])
    if not frames:
        raise FrameBridgeError(f"no input frames match {input_pattern}", fix="check the path, or pass --frames")
    params, shot, job_buffers = dict(params or {}), dict(shot or {}), MappingProxyType(dict(job_buffers or {}))
    check_output(target, frames[0], _result_buffers(op_name, params))
    cameras = _shot_cameras(shot)
    sequences = {name: (FramePattern(pattern), offset) for name, (pattern, offset) in (paired or {}).items()}
    read = _frame_reader(source, cameras, sequences)
    # Each chunk task keeps its own record: tasks of one shot run at once on different machines.
    manifest = RunManifest(target.path(frames[0], "result").parent,
                           output_pattern if chunk is None else f"{output_pattern}#chunk {chunk[0]}/{chunk[1]}")
    identities = {number: _identity(source, sequences, number) for number in frames}
    if source is not None and _wants_shot_depth_range(op_name, params, shot):
        known, depth_range = manifest.known_depth_range(identities.values())
        if not known:
            depth_range = _scan_depth_range(source, frames)
            manifest.remember_depth_range(identities.values(), depth_range)
        shot["depth_range"] = depth_range
    op = plan = piece = None
    if connection_file is None:
        op, plan = _prepare(op_name, params, shot, frames, backend, job_buffers)
    if chunk is not None:
        if connection_file is not None:
            raise InvalidParams("--chunk runs in-process, not on a server", fix="leave out --connection-file on farm tasks")
        piece = farm_chunk(frames, *chunk, op.chunking(plan), output_pattern)
    manifest.use_request({"op": op_name, "params": params, "shot": shot, "backend": backend, "half": half,
                          "output": output_pattern, "server": connection_file is not None,
                          "cameras": {str(number): matrix.tolist() for number, matrix in sorted(cameras.items())},
                          "plan": getattr(plan, "fingerprint", None),
                          "job_buffers": {name: digest(np.ascontiguousarray(array)) for name, array in sorted(job_buffers.items())},
                          "paired": {name: [pattern, offset] for name, (pattern, offset) in sorted((paired or {}).items())}})
    report = RunReport(chunk=piece)
    start = time.monotonic()
    owned = frames if piece is None else list(piece.chunk.frames) if piece.chunk else []

    def finish(number: int, buffers: dict[str, Any] | None, error: FrameBridgeError | None, meta: dict[str, Any]) -> None:
        if piece is not None:
            if error is None and number in piece.side:
                piece.write_side(number, buffers)
            if number not in piece.chunk.frames:
                return  # a lead, fade or tail frame: another task owns it
        if error is None:
            digest = result_digest(buffers)
            try:
                if manifest.unchanged_result(number, digest):
                    report.written[number] = manifest.outputs(number)
                    report.kept.append(number)
                else:
                    report.written[number] = write_result(target, number, buffers, half=half)
                report.meta[number] = meta
                manifest.record(number, identities.get(number), digest, report.written[number], meta)
            except FrameBridgeError as write_error:
                report.failed[number] = write_error
                manifest.forget(number)
        else:
            report.failed[number] = error
            manifest.forget(number)
        if on_frame:
            on_frame(number)

    try:
        if connection_file is None:
            stale = [number for number in owned if not manifest.up_to_date(number, identities[number])]
            # Frames that chain (temporal restyle, propagate) run together: each one depends on its neighbours.
            to_run = owned if stale and getattr(plan, "temporal", False) else stale
            if piece is not None and (stale or any(not piece.side_path(number).exists() for number in piece.side)):
                to_run = list(piece.chunk.run)
            for number in owned:
                if number not in to_run:
                    report.written[number], report.meta[number] = manifest.outputs(number), manifest.meta(number)
                    report.up_to_date.append(number)
                    if on_frame:
                        on_frame(number)
            if to_run:
                _run_in_process(op, plan, read, to_run, shot, job_buffers, finish)
            if piece is not None:
                piece.write_record(output_pattern, half)
        else:
            _run_on_server(op_name, read, frames, params, shot, backend, job_buffers, Path(connection_file), finish)
    finally:
        manifest.save()
    report.seconds = time.monotonic() - start
    return report


def _result_buffers(op_name: str, params: dict[str, Any]) -> list[str] | None:
    """The buffers each result frame will hold, where the op and params say it up front."""
    if op_name == "extract" and isinstance(params.get("conditions"), list):
        from .ops.extract import output_name

        return [output_name(str(name)) for name in dict.fromkeys(params["conditions"])]
    if op_name == "restyle":
        return [passes.BEAUTY]
    if op_name == "propagate":
        return [passes.BEAUTY, "confidence"]
    return None


def _shot_cameras(shot: dict[str, Any]) -> dict[int, np.ndarray]:
    """Per-frame cameras a shot file gives under ``frames.<number>.camera_matrix`` (the demo's scene.json).

    They travel with their frames as ``camera_matrix`` buffers, so ``frames`` is
    taken out of the shot; a camera in the frame's own EXR header wins.
    """
    per_frame = shot.pop("frames", None)
    if per_frame is None:
        return {}
    if not isinstance(per_frame, dict):
        raise InvalidParams("shot 'frames' must map frame numbers to {\"camera_matrix\": 4x4 rows}",
                            fix='write it as {"frames": {"1": {"camera_matrix": [[...], [...], [...], [...]]}}}')
    cameras = {}
    for key, entry in per_frame.items():
        matrix = entry.get("camera_matrix") if isinstance(entry, dict) else None
        if matrix is None:
            continue
        try:
            number, array = int(key), np.asarray(matrix, dtype=np.float32)
        except (TypeError, ValueError):
            number, array = None, np.zeros(0)
        if number is None or array.shape != (4, 4) or not np.isfinite(array).all():
            raise InvalidParams(f"shot frames[{key!r}].camera_matrix must be 4x4 finite numbers (world-from-camera rows)",
                                fix="write the frame number as the key and the camera's matrix_world rows as the value")
        cameras[number] = array
    return cameras


def _frame_reader(source: FramePattern | None, cameras: dict[int, np.ndarray],
                  paired: dict[str, tuple[FramePattern, int]]) -> Callable[[int], dict[str, Any]]:
    """Reads frame n: the input's buffers (with the shot file's camera when the file carries none), plus each
    paired sequence's frame n + offset as one named buffer."""

    def read(number: int) -> dict[str, Any]:
        buffers = read_frame(source, number) if source is not None else {}
        if source is not None and passes.CAMERA_MATRIX not in buffers and number in cameras:
            buffers[passes.CAMERA_MATRIX] = cameras[number]
        for name, (pattern, offset) in paired.items():
            image = read_frame(pattern, number + offset).get(passes.BEAUTY)
            if image is None:
                raise MediaError(f"{pattern.path(number + offset)} has no colour image to send as {name!r}")
            buffers[name] = image
        return buffers

    return read


def _identity(source: FramePattern | None, paired: dict[str, tuple[FramePattern, int]], number: int) -> list | None:
    """The identities of every file frame n reads (the input's and each paired sequence's), None if one is missing."""
    paths = ([source.path(number)] if source is not None else []) + [pattern.path(number + offset)
                                                                     for pattern, offset in paired.values()]
    identities = [file_identity(path) for path in paths]
    return None if any(identity is None for identity in identities) else identities


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


def _prepare(op_name: str, params: dict[str, Any], shot: dict[str, Any], frames: list[int], backend: str | None,
             job_buffers: Mapping[str, np.ndarray]):
    """The op and its checked plan, before any frame is read."""
    ops = default_ops()
    if op_name not in ops:
        raise UnknownOp(f"unknown op {op_name!r}", fix=f"choose one of {', '.join(sorted(ops))}", details={"allowed": sorted(ops)})
    op = ops[op_name]
    return op, op.prepare(params, shot, frames, backend, job_buffers)


def _run_in_process(op, plan, read, frames, shot, job_buffers, finish) -> None:
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
            finish(number, None, FrameBridgeError(f"the {op.name} op produced no result for frame {number}"), {})


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
