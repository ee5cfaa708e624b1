"""One job of any FrameBridge node across Nuke's main thread and Python threads, without freezing Nuke.

A node kind describes its job as :class:`Steps`; :func:`run_in_background` runs
them in a GUI session, handing over with ``nuke.executeInMainThread`` (which runs
the call later, from Nuke's event loop):

1. thread: ``check`` the server (a dead server costs its timeout here, not in the UI);
2. main: ``capture`` the inputs (``nuke.execute`` must run in the main thread);
3. thread: ``stream`` under a ``nuke.ProgressTask`` whose Cancel cancels the server job;
4. main: ``place`` the outcome, or ``fail`` with the error of any step.

:func:`run_here` runs the same steps in the calling thread (``nuke -t``) and raises.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable

import nuke

from framebridge.protocol.errors import FrameBridgeError

__all__ = ["Steps", "Progress", "alive", "run_in_background", "run_here"]

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Steps:
    """What one job does at each step; ``inputs`` (the node and the nodes it renders) must exist when capturing."""

    title: str
    inputs: tuple[Any, ...]
    check: Callable[[], None]
    capture: Callable[[], Any]
    stream: Callable[[Any, Progress, Callable[[], bool]], Any]
    place: Callable[[Any], Any]
    fail: Callable[[BaseException], None]


def alive(node: Any) -> bool:
    """False once the node was deleted or its script closed (Nuke then raises ValueError on any use)."""
    try:
        node.fullName()
    except ValueError:
        return False
    return True


def run_here(steps: Steps, progress: Progress) -> Any:
    """Every step in the calling thread (``nuke -t``): what ``place`` returns; errors are raised."""
    steps.check()
    captured = steps.capture()
    return steps.place(steps.stream(captured, progress, lambda: False))


def run_in_background(steps: Steps) -> threading.Thread:
    """GUI: the steps across threads and the main thread; returns the thread doing the server check."""
    thread = threading.Thread(target=_check_then_capture, args=(steps,), name="FrameBridge", daemon=True)
    thread.start()
    return thread


def _check_then_capture(steps: Steps) -> None:
    try:
        steps.check()
    except FrameBridgeError as error:
        nuke.executeInMainThread(steps.fail, args=(error,))
        return
    nuke.executeInMainThread(_capture_then_stream, args=(steps,))


def _capture_then_stream(steps: Steps) -> None:
    if not all(alive(node) for node in steps.inputs):
        print(f"FrameBridge: a node of the {steps.title} job was deleted before its inputs were rendered; nothing was sent",
              file=sys.stderr, flush=True)
        return
    try:
        captured = steps.capture()
    except (FrameBridgeError, RuntimeError) as error:  # nuke.execute raises RuntimeError when cancelled or failing
        steps.fail(error)
        return
    threading.Thread(target=_stream_then_place, args=(steps, captured), name="FrameBridge", daemon=True).start()


def _stream_then_place(steps: Steps, captured: Any) -> None:
    outcome = _stream_with_progress(steps, captured)
    if isinstance(outcome, FrameBridgeError):
        nuke.executeInMainThread(steps.fail, args=(outcome,))
    else:
        nuke.executeInMainThread(steps.place, args=(outcome,))


def _stream_with_progress(steps: Steps, captured: Any) -> Any:
    """The stream under a ProgressTask, which closes when this returns (a ProgressTask ends when it is freed)."""
    task = nuke.ProgressTask(steps.title)

    def progress(done: int, total: int, stage: str) -> None:
        task.setMessage(f"{stage}: {done} of {total} frames")
        task.setProgress(int(100 * done / max(total, 1)))

    try:
        return steps.stream(captured, progress, task.isCancelled)
    except FrameBridgeError as error:
        return error
    except OSError as error:  # a full disk or a folder without write permission, seen from the thread
        return FrameBridgeError(f"could not read the capture or write the results ({error})",
                                fix="check the output folder's free space and permissions")
