"""One Send, from the button to the placed result, without freezing Nuke.

In a GUI session the steps alternate between Nuke's main thread and a Python
thread (:mod:`.background`, shared by every node kind), handing over with
``nuke.executeInMainThread`` (which runs the call later, from Nuke's event loop):

1. main: read the node and the script (knobs, range, view, working space; proxy refused);
2. thread: check the server (a dead server costs its timeout here, not in the UI);
3. main: render the capture (``nuke.execute`` must run in the main thread);
4. thread: stream under a ``nuke.ProgressTask`` whose Cancel cancels the server job;
5. main: place the result (one undo step) or show why there is none.

Each outcome is shown on the node (tile colour, label, status). The node may be
deleted, or the script closed, while the job runs: step 5 then says where the
files are instead of failing. Without a GUI (``nuke -t``) the same steps run in
the calling thread and errors are raised.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable

import nuke

from framebridge.protocol import passes
from framebridge.protocol.errors import FrameBridgeError, JobCancelled
from framebridge.protocol.session import connect

from ..core.colour import shot_colour
from ..core.job import JobRequest, check_full_resolution, choose_view, plan_job
from ..core.paths import CaptureFolder, removed_on_failure, version_folder
from ..core.requests import choose_frames
from ..core.session import SessionResult, capture_source, check_server, run_session, shot_with_depth_range
from . import background, builder
from .background import alive
from .nodes import create_read, is_bridge_node, knob_values, render_capture, sample_knobs, source_of

__all__ = ["prepare", "check", "capture", "stream", "place", "fail", "show_state", "send_in_background", "alive",
           "root_colour_values"]

UNDO_NAME = "FrameBridge Send"
_ROOT_COLOUR_KNOBS = ("colorManagement", "OCIO_config", "customOCIOConfigPath", "workingSpaceLUT")


def root_colour_values() -> dict[str, Any]:
    """The Root's colour knobs that exist in this Nuke version."""
    root = nuke.root()
    return {name: root[name].value() for name in _ROOT_COLOUR_KNOBS if root.knob(name) is not None}


def prepare(node: Any, overrides: dict[str, Any] | None = None) -> tuple[JobRequest, Any]:
    """Everything the send needs from the node and the script, checked, as a request and the node to render."""
    check_full_resolution(bool(nuke.root()["proxy"].value()))
    values = knob_values(node, overrides)
    source = source_of(node)
    first, last = int(source.firstFrame()), int(source.lastFrame())
    frames = choose_frames(str(values.get("range_mode", "input")), first, last, str(values.get("frames", "")))
    request = plan_job(
        sample_knobs(node, values, frames),
        input_first=first,
        input_last=last,
        channels=source.channels(),
        fps=nuke.root()["fps"].value(),
        width=source.format().width(),
        height=source.format().height(),
        script_path=nuke.root()["name"].value(),
        node_name=node.name(),
        colour=shot_colour(root_colour_values(), os.environ),
        view=choose_view(str(values.get("view", "")), nuke.views()),
    )
    return request, source


def check(request: JobRequest) -> None:
    """Fail before rendering anything when the server is unreachable or lacks the op."""
    client = connect(request.connection)
    try:
        check_server(client, request.op)
    finally:
        client.close()


def capture(request: JobRequest, source: Any) -> CaptureFolder:
    """Main thread: render the input to a temporary capture folder."""
    folder = CaptureFolder()
    with removed_on_failure(folder):
        render_capture(source, request.layers, request.frames, folder, request.view)
    return folder


def stream(request: JobRequest, folder: CaptureFolder, progress: Callable[[int, int, str], None],
           cancelled: Callable[[], bool]) -> SessionResult:
    """Stream the capture and publish the results into the next version folder; the capture is removed afterwards."""
    try:
        client = connect(request.connection)
        try:
            source = capture_source(folder.path, request.layers.buffers, depth_is_inverse=request.settings.depth_is_inverse)
            shot = request.shot
            if passes.DEPTH in request.layers.buffers:
                shot = shot_with_depth_range(shot, source, request.frames)
            return run_session(client, request.op, list(request.frames), source,
                               output_folder=version_folder(request.output_folder), params=request.params, shot=shot,
                               backend=request.backend or None, progress=progress, cancelled=cancelled)
        finally:
            client.close()
    finally:
        folder.remove()


def place(node: Any, request: JobRequest, result: SessionResult) -> Any:
    """Main thread: the result's Read beside the node, wired into it and shown, as one undo step; None if nothing came back.

    Routine outcomes (cancelled, failed frames, server errors) go on the node; a
    deleted node or closed script gets a message naming the result folder.
    """
    if not alive(node):
        _node_gone(request, result)
        return None
    try:
        result.raise_for_failure()
    except JobCancelled as error:
        show_state(node, "cancelled", f"cancelled: {error}")
        return None
    except FrameBridgeError as error:
        show_state(node, "failed", f"failed: {error}")
        return None
    with builder.undo_step(UNDO_NAME):
        read = create_read(result.read, node, request.working_space)
        wired = is_bridge_node(node) and builder.show_result(node, read)
    where = f"{len(result.frames)} frames in {result.read['file']}"
    if is_bridge_node(node):
        show_state(node, "done", f"done: {where} ({read.name()}{'' if wired else ', beside this node'})")
    _say(f"FrameBridge: {where} ({read.name()})")
    return read


def _node_gone(request: JobRequest, result: SessionResult) -> None:
    if result.succeeded:
        text = (f"FrameBridge: the node was deleted or its script closed while the {request.op} job ran; "
                f"the {len(result.frames)} result frames are in {result.read['file']}")
    else:
        text = f"FrameBridge: the node was deleted or its script closed while the {request.op} job ran; nothing was published"
    if nuke.GUI:
        nuke.message(text)
    print(text, file=sys.stderr, flush=True)


def show_state(node: Any, state: str, text: str) -> None:
    """The state on a FrameBridge node that still exists (outside the undo history); failures also go to stderr."""
    if is_bridge_node(node) and alive(node):
        with builder.without_undo():
            builder.set_state(node, state, text)
    if state in ("failed", "cancelled"):
        print(f"FrameBridge: {text}", file=sys.stderr, flush=True)


def _say(text: str) -> None:
    print(text, flush=True)


def fail(node: Any, error: BaseException) -> None:
    """Show an error of any step on the node (or as a message when there is no FrameBridge node to show it on)."""
    text = f"failed: {error}"
    if isinstance(error, RuntimeError) and not isinstance(error, FrameBridgeError):
        text = f"rendering the input stopped ({error}); nothing was sent"
    if is_bridge_node(node) and alive(node):
        show_state(node, "failed", text)
    elif nuke.GUI:
        nuke.message(f"FrameBridge: {text}")
    else:
        print(f"FrameBridge: {text}", file=sys.stderr, flush=True)


def start(node: Any, steps: background.Steps, message: str) -> None:
    """Run a node's job steps: in the GUI off the main thread, ``message`` on the node; headless here, progress printed."""
    if nuke.GUI:
        show_state(node, "sending", message)
        background.run_in_background(steps)
        return
    try:
        background.run_here(steps, print_progress)
    except (FrameBridgeError, RuntimeError) as error:  # nuke.execute raises RuntimeError when a render fails
        fail(node, error)


def print_progress(done: int, total: int, stage: str) -> None:
    """Progress of a headless (``nuke -t``) job, a line a step."""
    print(f"FrameBridge: {stage} {done}/{total}", flush=True)


def send_in_background(node: Any, request: JobRequest, source: Any) -> threading.Thread:
    """GUI: steps 2-5 of a send (see :mod:`.background`); returns the thread doing step 2."""
    show_state(node, "sending", f"sending {len(request.frames)} frames ({request.op})")
    return background.run_in_background(background.Steps(
        title=f"FrameBridge {request.op}",
        inputs=(node, source),
        check=lambda: check(request),
        capture=lambda: capture(request, source),
        stream=lambda folder, progress, cancelled: stream(request, folder, progress, cancelled),
        place=lambda result: place(node, request, result),
        fail=lambda error: fail(node, error),
    ))
