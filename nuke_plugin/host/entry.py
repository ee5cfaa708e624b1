"""Entry functions: what the menu items, the FrameBridge node's buttons, callbacks and ``nuke -t`` scripts call.

GUI sends render the capture in the main thread (``nuke.execute`` shows its own
progress), then stream in a Python thread under a ``nuke.ProgressTask`` whose
cancel button cancels the server job; the Read node and messages are made back in
the main thread with ``nuke.executeInMainThread``. Without a GUI (``nuke -t``)
everything runs in the calling thread, progress is printed and errors are raised.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Mapping

import nuke

from framebridge.protocol import passes
from framebridge.protocol.errors import FrameBridgeError, JobCancelled, MissingInput
from framebridge.protocol.session import connect

from ..core.job import JobRequest, connection_settings, plan_job
from ..core.layers import available_conditions
from ..core.paths import CaptureFolder
from ..core.requests import CONDITIONS, choose_frames
from ..core.session import SessionResult, capture_source, check_server, run_session, shot_with_depth_range
from .nodes import (
    apply_knob_states,
    create_bridge_node,
    create_read,
    is_bridge_node,
    knob_values,
    render_capture,
    sample_knobs,
    source_of,
)

__all__ = [
    "restyle_selected",
    "extract_selected",
    "create_node",
    "new_node",
    "test_connection",
    "send_node",
    "run_node",
    "restyle_node",
    "extract_node",
    "on_create",
    "on_knob_changed",
]


def _selected() -> Any:
    try:
        return nuke.selectedNode()
    except ValueError:
        raise MissingInput("no node is selected", fix="select the node whose output you want to send") from None


def _report(error: FrameBridgeError) -> None:
    if nuke.GUI:
        nuke.message(f"FrameBridge: {error}")
    else:
        print(f"FrameBridge: {error}", file=sys.stderr)


def _notify(text: str) -> None:
    if nuke.GUI:
        nuke.message(text)
    else:
        print(text)


def create_node(op: str, input_node: Any = None) -> Any:
    """A FrameBridge node for ``op`` after ``input_node``, with the conditions its layers allow ticked for extract."""
    node = create_bridge_node(op, input_node)
    if op == "extract" and input_node is not None:
        for condition in available_conditions(input_node.channels()):
            node[f"cond_{condition}"].setValue(True)
        apply_knob_states(node)
    if nuke.GUI:
        node.showControlPanel()
    return node


def new_node() -> Any:
    """Menu: a FrameBridge node after the selected node (unconnected when nothing is selected)."""
    selected = nuke.selectedNodes()
    return create_node("restyle", selected[0] if selected else None)


def _send_or_create(op: str) -> None:
    try:
        node = _selected()
    except FrameBridgeError as error:
        _report(error)
        return
    if is_bridge_node(node):
        node["op"].setValue(op)
        send_node(node)
    else:
        create_node(op, node)


def restyle_selected() -> None:
    """Menu: send the selected FrameBridge node as restyle, or put a new one (restyle) after the selected node."""
    _send_or_create("restyle")


def extract_selected() -> None:
    """Menu: send the selected FrameBridge node as extract, or put a new one (extract) after the selected node."""
    _send_or_create("extract")


def test_connection(node: Any = None) -> None:
    """Ping the server the node (or the default connection file) points at and show what it offers."""
    try:
        client = connect(connection_settings(knob_values(node) if node is not None else {}))
        try:
            _notify(check_server(client).summary())
        finally:
            client.close()
    except FrameBridgeError as error:
        _report(error)


def _prepare(node: Any, overrides: Mapping[str, Any] | None = None) -> tuple[JobRequest, Any]:
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
    )
    return request, source


def _check(request: JobRequest) -> None:
    """Fail before rendering anything when the server is unreachable or lacks the op."""
    client = connect(request.connection)
    try:
        check_server(client, request.op)
    finally:
        client.close()


def _capture(request: JobRequest, source: Any) -> CaptureFolder:
    capture = CaptureFolder()
    try:
        render_capture(source, request.layers, request.frames, capture)
    except BaseException:
        capture.remove()
        raise
    return capture


def _run(request: JobRequest, capture: CaptureFolder, progress: Callable[[int, int, str], None],
         cancelled: Callable[[], bool]) -> SessionResult:
    """Stream the captured frames and stage the results; the capture folder is removed afterwards."""
    try:
        client = connect(request.connection)
        try:
            source = capture_source(capture.path, request.layers.buffers, depth_is_inverse=request.settings.depth_is_inverse)
            shot = request.shot
            if passes.DEPTH in request.layers.buffers:
                shot = shot_with_depth_range(shot, source, request.frames)
            return run_session(client, request.op, list(request.frames), source, output_folder=request.output_folder,
                               params=request.params, shot=shot, backend=request.backend or None,
                               progress=progress, cancelled=cancelled)
        finally:
            client.close()
    finally:
        capture.remove()


def _finish(node: Any, result: SessionResult) -> Any:
    """Main thread: a Read node for a published result, or a message naming what failed."""
    try:
        result.raise_for_failure()
    except JobCancelled as error:
        _notify(f"FrameBridge: {error}")
        return None
    except FrameBridgeError as error:
        _report(error)
        return None
    read = create_read(result.read, node)
    _notify(f"FrameBridge: {len(result.frames)} frames written to {result.read['file']} ({read.name()})")
    return read


def send_node(node: Any) -> None:
    """Button/menu: capture the node's input, stream it to the server, place the result as a Read node."""
    try:
        request, source = _prepare(node)
        _check(request)
        capture = _capture(request, source)
    except FrameBridgeError as error:
        _report(error)
        return
    except RuntimeError as error:  # nuke.execute raises RuntimeError when the render is cancelled or fails
        _notify(f"FrameBridge: rendering the input stopped ({error}); nothing was sent")
        return
    if not nuke.GUI:
        try:
            result = _run(request, capture, _print_progress, lambda: False)
        except FrameBridgeError as error:
            _report(error)
            return
        _finish(node, result)
        return
    threading.Thread(target=_stream_in_background, args=(node, request, capture), name="FrameBridge", daemon=True).start()


def _stream_in_background(node: Any, request: JobRequest, capture: CaptureFolder) -> None:
    outcome = _stream_with_progress(request, capture)
    if isinstance(outcome, FrameBridgeError):
        nuke.executeInMainThread(_report, args=(outcome,))
    else:
        nuke.executeInMainThread(_finish, args=(node, outcome))


def _stream_with_progress(request: JobRequest, capture: CaptureFolder) -> SessionResult | FrameBridgeError:
    """The job under a ProgressTask, which closes when this returns (a ProgressTask ends when it is freed)."""
    task = nuke.ProgressTask(f"FrameBridge {request.op}")

    def progress(done: int, total: int, stage: str) -> None:
        task.setMessage(f"{stage}: {done} of {total} frames")
        task.setProgress(int(100 * done / max(total, 1)))

    try:
        return _run(request, capture, progress, task.isCancelled)
    except FrameBridgeError as error:
        return error
    except OSError as error:  # a full disk or a folder without write permission, seen from the thread
        return FrameBridgeError(f"could not read the capture or write the results ({error})",
                                fix="check the output folder's free space and permissions")


def _print_progress(done: int, total: int, stage: str) -> None:
    print(f"FrameBridge: {stage} {done}/{total}", flush=True)


def run_node(node_name: str, op: str | None = None, first: int | None = None, last: int | None = None,
             output_folder: str | None = None, **knobs: Any) -> Any:
    """Headless (``nuke -t``): send a node's output through ``op`` and return the Read node of the results.

    ``node_name`` is a FrameBridge node (its knobs apply) or any other node (the
    defaults apply). ``first``/``last`` override the frame range (default: the
    input's), ``knobs`` override FrameBridge knob values (``prompt="oil paint"``,
    ``cond_depth=True``, ``connection_file=...``). Raises the typed error of a
    failed, cancelled or unreachable job; nothing is published unless every frame
    came back.
    """
    node = nuke.toNode(node_name)
    if node is None:
        raise MissingInput(f"there is no node named {node_name!r} in the script")
    overrides = dict(knobs)
    if op is not None:
        overrides["op"] = op
    if output_folder is not None:
        overrides["output_folder"] = str(output_folder)
    if first is not None or last is not None:
        source = source_of(node)
        start = int(first if first is not None else source.firstFrame())
        end = int(last if last is not None else source.lastFrame())
        overrides.update(range_mode="custom", frames=f"{start}-{end}")
    request, source = _prepare(node, overrides)
    _check(request)
    capture = _capture(request, source)
    result = _run(request, capture, _print_progress, lambda: False)
    result.raise_for_failure()
    read = create_read(result.read, node)
    print(f"FrameBridge: {len(result.frames)} frames written to {result.read['file']} ({read.name()})", flush=True)
    return read


def restyle_node(node_name: str, first: int | None = None, last: int | None = None, output_folder: str | None = None,
                 **knobs: Any) -> Any:
    """Headless restyle of a node's output; see :func:`run_node`."""
    return run_node(node_name, "restyle", first, last, output_folder, **knobs)


def extract_node(node_name: str, first: int | None = None, last: int | None = None, output_folder: str | None = None,
                 conditions: tuple[str, ...] = ("depth",), **knobs: Any) -> Any:
    """Headless extract of ``conditions`` from a node's output; see :func:`run_node`."""
    for condition in conditions:
        knobs.setdefault(f"cond_{condition}", True)
    return run_node(node_name, "extract", first, last, output_folder, **knobs)


def on_create() -> None:
    """``nuke.addOnCreate`` callback for Groups: grey out a loaded FrameBridge node's unused knobs."""
    node = nuke.thisNode()
    if is_bridge_node(node):
        apply_knob_states(node)


def on_knob_changed() -> None:
    """``nuke.addKnobChanged`` callback for Groups: keep the FrameBridge node's knob states current."""
    node = nuke.thisNode()
    if is_bridge_node(node) and nuke.thisKnob().name() in _STATE_KNOBS:
        apply_knob_states(node)


# "showPanel" is the dummy knob Nuke passes when the control panel opens.
_STATE_KNOBS = frozenset(("showPanel", "op", "temporal", "range_mode", *(f"cond_{name}" for name in CONDITIONS)))
