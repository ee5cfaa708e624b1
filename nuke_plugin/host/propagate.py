"""The FrameBridge Propagate node in Nuke: shot on input 0, painted keyframes on input 1, the result as a Read.

The node is the shared FrameBridge Group (:mod:`.builder`) with a ``Keyframes``
input before the result's, so the result Read is wired into its third input.
Send runs across the main thread and threads like every FrameBridge job
(:mod:`.background`): server check, then the shot and each keyframe rendered with
an internal Write (one ``nuke.execute`` per keyframe, so a keyframe input 1 cannot
render is named), then the stream under a ``nuke.ProgressTask``, then the Read
placed and shown as one undo step (:func:`.send.place`).
"""

from __future__ import annotations

import os
from typing import Any

import nuke

from framebridge.protocol.errors import FrameBridgeError, InvalidParams, MissingInput
from framebridge.protocol.session import connect

from ..core.colour import shot_colour
from ..core.job import check_full_resolution, choose_view
from ..core.paths import CaptureFolder, removed_on_failure, version_folder
from ..core.propagate import (
    KEYFRAME_LAYERS,
    PROPAGATE_HELP,
    PROPAGATE_KNOBS,
    PROPAGATE_MARKER,
    PropagateRequest,
    keyframe_image,
    keyframed_source,
    propagate_request,
)
from ..core.session import SessionResult, capture_source, run_session
from . import background, builder, send
from .nodes import render_capture

__all__ = ["is_propagate_node", "create_propagate_node", "new_propagate_node", "prepare", "send_propagate", "run_node"]

_NO_KEYFRAME_FIX = "paint or hold that frame on input 1, or take it off the keyframe list"


def is_propagate_node(node: Any) -> bool:
    return node is not None and node.knob(PROPAGATE_MARKER) is not None


def create_propagate_node(shot: Any = None, keyframes: Any = None) -> Any:
    """A Propagate node in the current context: input 0 the shot (passed through until a result is shown), input 1 the keyframes."""
    node = builder.build_node(PROPAGATE_KNOBS, "FrameBridgePropagate1", shot, PROPAGATE_HELP, extra_inputs=("Keyframes",))
    if keyframes is not None:
        node.setInput(1, keyframes)
    return node


def new_propagate_node() -> Any:
    """Menu: a Propagate node on the selected nodes (the first selected is the shot, the second the keyframes)."""
    return builder.on_selection(create_propagate_node)


def prepare(node: Any, overrides: dict[str, Any] | None = None) -> tuple[PropagateRequest, Any, Any]:
    """The checked request, the shot node and the keyframes node, from the node's knobs, its inputs and the script."""
    check_full_resolution(bool(nuke.root()["proxy"].value()))
    shot, keyframes = node.input(0), node.input(1)
    if shot is None or keyframes is None:
        raise MissingInput(f"{node.name()} needs the shot on input 0 and the painted keyframes on input 1",
                           fix="connect the shot to the first input and the paint (e.g. a RotoPaint) to the second")
    values = builder.knob_values(node, PROPAGATE_KNOBS, overrides)
    request = propagate_request(
        values,
        shot_first=int(shot.firstFrame()), shot_last=int(shot.lastFrame()),
        keyframes_first=int(keyframes.firstFrame()), keyframes_last=int(keyframes.lastFrame()),
        channels=shot.channels(),
        shot_size=(shot.format().width(), shot.format().height()),
        keyframes_size=(keyframes.format().width(), keyframes.format().height()),
        fps=nuke.root()["fps"].value(),
        script_path=nuke.root()["name"].value(),
        node_name=node.name(),
        colour=shot_colour(send.root_colour_values(), os.environ),
        view=choose_view(str(values.get("view", "")), nuke.views()),
    )
    return request, shot, keyframes


def capture(request: PropagateRequest, shot: Any, keyframes: Any) -> tuple[CaptureFolder, CaptureFolder]:
    """Main thread: render the shot's layers and, one by one, input 1 at each keyframe."""
    shot_folder, keyframe_folder = CaptureFolder(), CaptureFolder()
    with removed_on_failure(shot_folder, keyframe_folder):
        render_capture(shot, request.layers, request.frames, shot_folder, request.view)
        for number in request.keyframes:
            try:
                render_capture(keyframes, KEYFRAME_LAYERS, [number], keyframe_folder, request.view)
            except RuntimeError as error:  # what nuke.execute raises for a frame its input cannot render
                raise MissingInput(f"input 1 (keyframes) has no image at frame {number}: {error}",
                                   fix=_NO_KEYFRAME_FIX) from error
    return shot_folder, keyframe_folder


def stream(request: PropagateRequest, captured: tuple[CaptureFolder, CaptureFolder], progress: background.Progress,
           cancelled: Any) -> SessionResult:
    """Send the shot with its keyframes; the results are published into the next version folder, the captures removed."""
    shot_folder, keyframe_folder = captured
    try:
        painted = capture_source(keyframe_folder.path, KEYFRAME_LAYERS.buffers)
        keyframes = {number: keyframe_image(painted(number), number) for number in request.keyframes}
        source = keyframed_source(capture_source(shot_folder.path, request.layers.buffers), keyframes)
        client = connect(request.connection)
        try:
            return run_session(client, request.op, list(request.frames), source,
                               output_folder=version_folder(request.output_folder), params=request.params,
                               shot=request.shot, progress=progress, cancelled=cancelled)
        finally:
            client.close()
    finally:
        shot_folder.remove()
        keyframe_folder.remove()


def _steps(node: Any, request: PropagateRequest, shot: Any, keyframes: Any) -> background.Steps:
    return background.Steps(
        title="FrameBridge propagate",
        inputs=(node, shot, keyframes),
        check=lambda: send.check(request),
        capture=lambda: capture(request, shot, keyframes),
        stream=lambda captured, progress, cancelled: stream(request, captured, progress, cancelled),
        place=lambda result: send.place(node, request, result),
        fail=lambda error: send.fail(node, error),
    )


def send_propagate(node: Any) -> None:
    """The Send button: in a GUI without blocking Nuke; the outcome shows on the node (state, status, the Read)."""
    try:
        request, shot, keyframes = prepare(node)
    except FrameBridgeError as error:
        send.fail(node, error)
        return
    send.start(node, _steps(node, request, shot, keyframes), f"sending {len(request.frames)} frames with keyframes "
                                                            f"{', '.join(map(str, request.keyframes))} (propagate)")


def run_node(node_name: str, first: int | None = None, last: int | None = None, output_folder: str | None = None,
             **knobs: Any) -> Any:
    """Headless (``nuke -t``, the farm wrapper): propagate a Propagate node's keyframes; returns the result's Read.

    ``first``/``last`` override the frame range, ``knobs`` the node's knob values
    (``keyframes="1001 1048"``). Raises the typed error of a job that did not publish.
    """
    node = nuke.toNode(node_name)
    if not is_propagate_node(node):
        raise InvalidParams(f"{node_name!r} is not a FrameBridge Propagate node")
    overrides = dict(knobs)
    if output_folder is not None:
        overrides["output_folder"] = str(output_folder)
    if first is not None or last is not None:
        shot = node.input(0)
        if shot is None:
            raise MissingInput(f"{node_name} has no shot on input 0")
        start = int(first if first is not None else shot.firstFrame())
        end = int(last if last is not None else shot.lastFrame())
        overrides.update(range_mode="custom", frames=f"{start}-{end}")
    request, shot, keyframes = prepare(node, overrides)
    send.check(request)
    result = stream(request, capture(request, shot, keyframes), send.print_progress, lambda: False)
    result.raise_for_failure()
    return send.place(node, request, result)
