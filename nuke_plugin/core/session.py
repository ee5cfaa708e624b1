"""Drive one job with the client: frames from captured EXRs, results staged then published.

The only module that talks to the server. It never touches Nuke: the host layer
hands it a frame source, a progress callback and a cancel check, and gets back a
:class:`SessionResult` (or a typed :class:`~framebridge.protocol.errors.FrameBridgeError`
with a message and, where there is one, a fix). Cancel stops the server job and
removes everything staged; a job with failed frames publishes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from framebridge.protocol import passes, session
from framebridge.protocol.client import Client, DoneEvent, ProgressEvent, ResultEvent
from framebridge.protocol.errors import FrameBridgeError, FrameFailed, JobCancelled
from framebridge.protocol.sequence import StagedSequence

from .paths import read_knobs

__all__ = [
    "SessionResult",
    "check_server",
    "inverse_depth_to_distance",
    "capture_source",
    "run_session",
    "shot_with_depth_range",
]

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class SessionResult:
    """How a job ended; ``paths`` and ``read`` are set only when every frame was published."""

    state: str
    frames: tuple[int, ...] = ()
    paths: tuple[Path, ...] = ()
    failed: dict[int, FrameBridgeError] = field(default_factory=dict)
    error: FrameBridgeError | None = None
    read: dict[str, object] | None = None
    warnings: dict[int, list[str]] = field(default_factory=dict)  # frames done with a caveat (e.g. no face found)

    @property
    def succeeded(self) -> bool:
        return self.state == "completed" and not self.failed and self.error is None

    def raise_for_failure(self) -> None:
        """Raise the typed error of a job that did not publish: cancelled, failed frames (named), or failed."""
        if self.succeeded:
            return
        if self.state == "cancelled":
            raise JobCancelled("the job was cancelled; no result files were written")
        if self.failed:
            lines = "; ".join(f"frame {number}: {error}" for number, error in sorted(self.failed.items()))
            raise FrameFailed(f"{len(self.failed)} frame(s) failed, so no results were published: {lines}",
                              details={"frames": sorted(self.failed)})
        raise self.error or FrameBridgeError(f"the job ended in state {self.state!r}; no results were published")


def check_server(client: Client, required_op: str | None = None) -> session.ServerInfo:
    """The shared server check, with fixes that point at the FrameBridge node's knobs."""
    return session.check_server(client, required_op, host="Nuke plugin",
                                where="the FrameBridge node's connection file / address")


def inverse_depth_to_distance(depth: np.ndarray, far: float = 1e10) -> np.ndarray:
    """Nuke's ScanlineRender writes depth as 1/z; canonical depth is the distance (0 -> ``far``, background)."""
    depth = np.asarray(depth, dtype=np.float32)
    with np.errstate(divide="ignore"):
        return np.where(depth > 0, 1.0 / np.maximum(depth, np.finfo(np.float32).tiny), np.float32(far)).astype(np.float32)


def capture_source(path_of: Callable[[int], os.PathLike[str] | str], buffers: Iterable[str], *,
                   depth_is_inverse: bool = False) -> Callable[[int], dict[str, np.ndarray]]:
    """A frame source reading the captured EXR of a frame and keeping ``buffers`` (those it holds)."""
    from framebridge.protocol.exr import read_frame

    wanted = tuple(buffers)

    def source(number: int) -> dict[str, np.ndarray]:
        frame = read_frame(path_of(number))
        kept = {name: frame[name] for name in wanted if name in frame}
        if depth_is_inverse and "depth" in kept:
            kept["depth"] = inverse_depth_to_distance(kept["depth"])
        return kept

    return source


def shot_with_depth_range(shot: Mapping[str, Any], source: Callable[[int], Mapping[str, np.ndarray]],
                          frames: Iterable[int]) -> dict[str, Any]:
    """The shot plus ``depth_range``: the foreground depth over every captured frame, read one frame at a time.

    Every frame is on disk before the job is sent, so the server can normalise the
    depth condition over the whole shot instead of the first frame. The shot is
    unchanged when it has a range already or no frame has foreground depth; frames
    the source cannot give are skipped here (the job names them).
    """
    shot = dict(shot)
    if shot.get("depth_range") is not None:
        return shot

    def depths() -> Iterable[np.ndarray]:
        for number in frames:
            try:
                depth = source(number).get(passes.DEPTH)
            except FrameBridgeError:
                continue
            if depth is not None:
                yield depth

    depth_range = passes.shot_depth_range(depths())
    if depth_range is not None:
        shot["depth_range"] = depth_range
    return shot


def _write_exr(path: Path, buffers: Mapping[str, np.ndarray]) -> None:
    from framebridge.protocol.exr import write_exr

    write_exr(path, buffers)


def run_session(client: Client, op: str, frames: list[int], source: Callable[[int], Mapping[str, np.ndarray]], *,
                output_folder: str | os.PathLike[str], params: dict[str, Any], shot: dict[str, Any] | None = None,
                backend: str | None = None, progress: Progress = lambda done, total, stage: None,
                cancelled: Callable[[], bool] = lambda: False, poll: float = 0.1,
                job_buffers: Mapping[str, np.ndarray] | None = None,
                on_meta: Callable[[int, dict[str, Any]], None] | None = None) -> SessionResult:
    """Submit ``frames``, stage every result as ``frame_####.exr``, publish only if all came back.

    ``progress(done, total, stage)`` is called on each event; ``cancelled()`` is
    checked between polls, and when true the server job is cancelled. ``job_buffers``
    go once with the submit; ``on_meta(frame, meta)`` sees each result's meta (landmarks).
    """
    staged = StagedSequence(output_folder, _write_exr)
    total = len(frames)
    try:
        job = client.submit(op, frames, source, params=params, shot=shot or {}, backend=backend or None,
                            keep_results=False, job_buffers=job_buffers)
        done_event: DoneEvent | None = None
        stored = 0
        while done_event is None:
            if cancelled():
                job.cancel()
                staged.discard()
                return SessionResult("cancelled")
            for event in job.step(timeout=poll):
                if isinstance(event, ResultEvent):
                    staged.add(event.frame, event.buffers)
                    if on_meta is not None:
                        on_meta(event.frame, dict(event.meta))
                    stored += 1
                    progress(stored, total, "result")
                elif isinstance(event, ProgressEvent):
                    progress(stored, total, event.stage)
                elif isinstance(event, DoneEvent):
                    done_event = event
    except BaseException:
        staged.discard()
        raise
    missing = sorted(set(frames) - set(staged.frames) - set(done_event.failed))
    if done_event.state != "completed" or done_event.failed or done_event.error or missing:
        staged.discard()
        error = done_event.error
        if error is None and missing:
            error = FrameFailed(f"the server ended the job without results for frames {missing}", details={"frames": missing})
        return SessionResult(done_event.state if not missing else "incomplete", failed=dict(done_event.failed), error=error)
    paths = staged.publish()
    progress(total, total, "published")
    return SessionResult("completed", tuple(sorted(frames)), tuple(paths), read=read_knobs(output_folder, frames, op),
                         warnings=dict(done_event.warnings))
