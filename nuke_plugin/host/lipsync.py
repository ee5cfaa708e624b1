"""The FrameBridge LipSync node in Nuke: audio to mouth curves, and in plate mode a lip-synced plate as a Read.

The node is the shared FrameBridge Group (:mod:`.builder`): input 0 passes through
until a plate result is shown, the result's Read is wired into input 1. Cues come
back as curves set with documented calls only: ``knob.clearAnimated``/
``setAnimated``/``setValueAt`` and ``knob.animation(0).changeInterpolation(keys,
nuke.CONSTANT)``. Plate mode runs like every FrameBridge job (:mod:`.background`):
server check in a thread, input 0 rendered in the main thread, the frames and the
audio streamed in a thread under a ``nuke.ProgressTask`` (Cancel cancels the
server job), the Read placed and shown in the main thread (:func:`.send.place`).
The request and the curves are built in :mod:`..core.lipsync`.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any, Callable

import nuke

from framebridge.protocol.client import DoneEvent, ResultEvent
from framebridge.protocol.errors import FrameBridgeError, InvalidParams, MissingInput
from framebridge.protocol.files import atomic_path
from framebridge.protocol.session import connect

from ..core.colour import shot_colour
from ..core.job import check_full_resolution, choose_view, connection_settings
from ..core.layers import LayerPlan
from ..core.lipsync import (
    LIPSYNC_HELP,
    LIPSYNC_KNOBS,
    MARKER,
    SHAPE_KNOBS,
    PlateRequest,
    curves_from_results,
    lipsync_params,
    plate_request,
    read_wav,
)
from ..core.paths import CaptureFolder, removed_on_failure, version_folder
from ..core.session import SessionResult, capture_source, run_session
from . import background, builder, send
from .nodes import render_capture

__all__ = ["create_node", "is_lipsync_node", "generate", "run_node", "prepare_plate", "send_plate", "run_plate"]

_RGBA = LayerPlan(buffers=("beauty",), layers=("rgba",))


def is_lipsync_node(node: Any) -> bool:
    return node is not None and node.knob(MARKER) is not None


def create_node(input_node: Any = None) -> Any:
    """A LipSync node (after ``input_node`` when given) starting at the script's first frame."""
    group = builder.build_node(LIPSYNC_KNOBS, "LipSync1", input_node, LIPSYNC_HELP)
    first_frame = nuke.root().knob("first_frame")
    if first_frame is not None:
        group["start_frame"].setValue(int(first_frame.value()))
    return group


def _values(node: Any) -> dict[str, Any]:
    """The node's knob values; a knob an older saved node lacks reads as its default (cues mode)."""
    return builder.knob_values(node, [spec for spec in LIPSYNC_KNOBS if spec.name not in SHAPE_KNOBS + ("mouth_open",)])


def _cues(values: dict[str, Any], params: dict[str, Any], frames: list[int], samples) -> dict[int, dict[str, Any]]:
    client = connect(connection_settings(values))
    metas: dict[int, dict[str, Any]] = {}
    try:
        job = client.submit("lipsync", frames, lambda number: {}, params=params, job_buffers={"audio": samples},
                            keep_results=False)
        for event in job:
            if isinstance(event, ResultEvent):
                metas[event.frame] = event.meta
            elif isinstance(event, DoneEvent) and (event.error or event.failed):
                raise event.error or next(iter(event.failed.values()))
    finally:
        client.close()
    return metas


def _set_curves(node: Any, curves: dict[str, list[tuple[int, float]]]) -> None:
    for name, keys in curves.items():
        knob = node[name]
        knob.clearAnimated()
        knob.setAnimated()
        for frame, value in keys:
            knob.setValueAt(value, frame)
        if name in SHAPE_KNOBS:
            curve = knob.animation(0)
            curve.changeInterpolation(curve.keys(), nuke.CONSTANT)


def run_node(node_name: str) -> str:
    """Generate cues for the LipSync node named ``node_name`` (for ``nuke -t`` scripts); errors are raised."""
    node = nuke.toNode(node_name)
    if not is_lipsync_node(node):
        raise InvalidParams(f"{node_name!r} is not a FrameBridge LipSync node")
    values = _values(node)
    samples, rate = read_wav(values["audio"])
    fps = float(nuke.root()["fps"].value())
    params = lipsync_params(values, rate, fps)
    start = params["start_frame"]
    frames = list(range(start, start + max(1, math.ceil(len(samples) / rate * fps + params["offset"]))))
    metas = _cues(values, params, frames, samples)
    summary = _apply_cues(node, metas, frames, str(values["cue_file"]))
    node["status"].setValue(summary)
    return summary.split(";", 1)[0]


def _apply_cues(node: Any, metas: dict[int, dict[str, Any]], frames: list[int], cue_file: str) -> str:
    """Set the curves, write the cue file the first result carries (if asked for), and say what came back."""
    _set_curves(node, curves_from_results(metas, frames))
    track = next(meta for meta in metas.values() if "cues" in meta)
    if "cue_file" in track:
        with atomic_path(Path(cue_file)) as temporary:
            temporary.write_text(track["cue_file"], encoding="utf-8", newline="\n")
    summary = f"{len(track['cues'])} cues ({track['method']}), frames {frames[0]}-{frames[-1]}"
    return "; ".join([summary, *track["notes"]])


def generate(node: Any) -> None:
    """The Generate button: plate mode runs off the main thread (see :func:`send_plate`); cues errors go to a
    message (or stderr without a GUI) and the status line."""
    if _values(node)["mode"] == "plate":
        send_plate(node)
        return
    try:
        run_node(node.name())
    except FrameBridgeError as error:
        node["status"].setValue(f"error: {error}")
        if nuke.GUI:
            nuke.message(f"FrameBridge LipSync: {error}")
        else:
            print(f"FrameBridge LipSync: {error}", file=sys.stderr)


def prepare_plate(node: Any) -> tuple[PlateRequest, Any]:
    """Plate mode: the checked request (audio read, params, input 0's range) and the plate node to render."""
    check_full_resolution(bool(nuke.root()["proxy"].value()))
    plate = node.input(0)
    if plate is None:
        raise MissingInput(f"{node.name()} in plate mode needs the plate on input 0",
                           fix="connect the plate, or set mode to cues for curves only")
    values = _values(node)
    samples, rate = read_wav(values["audio"])
    return plate_request(
        values, samples, rate,
        first=int(plate.firstFrame()), last=int(plate.lastFrame()),
        fps=float(nuke.root()["fps"].value()),
        width=plate.format().width(), height=plate.format().height(),
        script_path=nuke.root()["name"].value(),
        node_name=node.name(),
        colour=shot_colour(send.root_colour_values(), os.environ),
        view=choose_view("", nuke.views()),
    ), plate


def _capture_plate(request: PlateRequest, plate: Any) -> CaptureFolder:
    folder = CaptureFolder()
    with removed_on_failure(folder):
        render_capture(plate, _RGBA, request.frames, folder, request.view)
    return folder


def _stream_plate(request: PlateRequest, folder: CaptureFolder, progress: background.Progress,
                  cancelled: Callable[[], bool]) -> tuple[SessionResult, dict[int, dict[str, Any]]]:
    """Send the plate and the audio; the lip-synced frames go into the next version folder, the capture is removed."""
    metas: dict[int, dict[str, Any]] = {}
    try:
        client = connect(request.connection)
        try:
            result = run_session(client, request.op, list(request.frames), capture_source(folder.path, _RGBA.buffers),
                                 output_folder=version_folder(request.output_folder), params=request.params,
                                 shot=request.shot, backend=request.backend or None, progress=progress,
                                 cancelled=cancelled, job_buffers={"audio": request.audio},
                                 on_meta=metas.__setitem__)
        finally:
            client.close()
    finally:
        folder.remove()
    return result, metas


def _place_plate(node: Any, request: PlateRequest, outcome: tuple[SessionResult, dict[int, dict[str, Any]]]) -> Any:
    """Main thread: the Read shown by the node, the curves set, and the frames without a face named in the status."""
    result, metas = outcome
    read = send.place(node, request, result)
    if read is None or not send.alive(node):
        return read
    try:
        summary = _apply_cues(node, metas, list(result.frames), request.cue_file)
    except FrameBridgeError as error:
        summary = f"the curves were not set: {error}"
    faceless = sorted(result.warnings)
    if faceless:
        summary += f"; no face found on frames {', '.join(map(str, faceless))} (passed through)"
    send.show_state(node, "done", f"done: {len(result.frames)} lip-synced frames in {result.read['file']} "
                                  f"({read.name()}); {summary}")
    return read


def _plate_steps(node: Any, request: PlateRequest, plate: Any) -> background.Steps:
    return background.Steps(
        title="FrameBridge lipsync",
        inputs=(node, plate),
        check=lambda: send.check(request),
        capture=lambda: _capture_plate(request, plate),
        stream=lambda folder, progress, cancelled: _stream_plate(request, folder, progress, cancelled),
        place=lambda outcome: _place_plate(node, request, outcome),
        fail=lambda error: send.fail(node, error),
    )


def send_plate(node: Any) -> None:
    """Plate mode's Generate: in a GUI without blocking Nuke; the outcome shows on the node."""
    try:
        request, plate = prepare_plate(node)
    except FrameBridgeError as error:
        send.fail(node, error)
        return
    send.start(node, _plate_steps(node, request, plate), f"sending {len(request.frames)} frames (lipsync plate)")


def run_plate(node_name: str) -> Any:
    """Plate mode for ``nuke -t`` scripts: lip-sync the LipSync node's input 0; returns the result's Read, raises errors."""
    node = nuke.toNode(node_name)
    if not is_lipsync_node(node):
        raise InvalidParams(f"{node_name!r} is not a FrameBridge LipSync node")
    request, plate = prepare_plate(node)
    send.check(request)
    result, metas = _stream_plate(request, _capture_plate(request, plate), send.print_progress, lambda: False)
    result.raise_for_failure()
    return _place_plate(node, request, (result, metas))
