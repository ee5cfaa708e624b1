"""The FrameBridge Expression node in Nuke: a Group with plate and driver inputs, Send, results and tracks.

After a send, the Group's output is a Read of the result inside it (rgba plus the
``face_matte`` and ``stmap`` layers, read raw), and a CornerPin2D beside the node
follows the face (``to1..to4`` animated with ``setValueAt(value, frame, index)``,
``from1..4`` at the first tracked frame). Only documented calls: ``nuke.nodes.<Class>``,
``node.begin``/``end``, ``setInput``, ``knob.setAnimated``/``setValueAt``/``setValue``.
Send runs like every FrameBridge job (:mod:`.background`): the server check and the
stream in threads (a ``nuke.ProgressTask`` whose Cancel cancels the server job), the
captures and the placing in the main thread through ``nuke.executeInMainThread``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import nuke

from framebridge.protocol.errors import FrameBridgeError, MissingInput
from framebridge.protocol.session import ConnectionSettings, connect

from ..core.expression import (
    EXPRESSION_KNOBS,
    EXPRESSION_MARKER,
    EXPRESSION_VALUE_KNOBS,
    ExpressionRequest,
    corner_tracks,
    expression_request,
    paired_source,
)
from ..core.job import choose_view, connection_settings, default_output_folder
from ..core.layers import LayerPlan
from ..core.paths import CaptureFolder, beside, removed_on_failure
from ..core.requests import choose_frames
from ..core.session import SessionResult, capture_source, check_server, run_session
from . import background, builder
from .nodes import fill_read, make_knob, render_capture

__all__ = ["is_expression_node", "create_expression_node", "new_expression_node", "send_expression", "place_results"]

_RGBA = LayerPlan(buffers=("beauty",), layers=("rgba",))


def is_expression_node(node: Any) -> bool:
    return node is not None and node.knob(EXPRESSION_MARKER) is not None


def create_expression_node(plate: Any = None, driver: Any = None) -> Any:
    """A FrameBridge Expression Group: input 0 the plate, input 1 the driver; passes the plate through until sent."""
    group = nuke.nodes.Group()
    group.setName("FrameBridgeExpression1", uncollide=True)
    group.begin()
    try:
        plate_input = nuke.nodes.Input(name="Plate")
        nuke.nodes.Input(name="Driver")
        nuke.nodes.Output(inputs=[plate_input])
    finally:
        group.end()
    for spec in EXPRESSION_KNOBS:
        group.addKnob(make_knob(spec))
    if plate is not None:
        group.setInput(0, plate)
        group.setXYpos(plate.xpos(), plate.ypos() + 60)
        group["frames"].setValue(f"{int(plate.firstFrame())}-{int(plate.lastFrame())}")
    if driver is not None:
        group.setInput(1, driver)
        group["reference_frame"].setValue(int(driver.firstFrame()))
    return group


def new_expression_node() -> Any:
    """Menu: an Expression node on the selected nodes (the first selected is the plate, the second the driver)."""
    return builder.on_selection(create_expression_node)


def _report(error: FrameBridgeError) -> None:
    if nuke.GUI:
        nuke.message(f"FrameBridge: {error}")
    else:
        print(f"FrameBridge: {error}")


@dataclass(frozen=True)
class _Job:
    """One expression send: the request, its frames and where they go, and the two nodes to render."""

    request: ExpressionRequest
    frames: tuple[int, ...]
    height: int
    backend: str | None
    output_folder: str
    connection: ConnectionSettings
    view: str
    plate: Any
    driver: Any


def send_expression(node: Any) -> Any:
    """Button: capture plate and driver, run ``expression`` on the server, place the result and the corner pin.

    In a GUI the job runs off the main thread (:mod:`.background`) and this returns
    None at once; without one it returns the CornerPin2D. Errors are reported, and
    a job that did not publish places nothing.
    """
    try:
        job = _prepare(node)
    except FrameBridgeError as error:
        _report(error)
        return None
    steps = background.Steps(
        title="FrameBridge expression",
        inputs=(node, job.plate, job.driver),
        check=lambda: _check(job),
        capture=lambda: _capture(job),
        stream=lambda captured, progress, cancelled: _stream(job, captured, progress, cancelled),
        place=lambda outcome: _finish(node, job, outcome),
        fail=_report,
    )
    if nuke.GUI:
        background.run_in_background(steps)
        return None
    try:
        return background.run_here(steps, lambda done, total, stage: print(f"FrameBridge: {stage} {done}/{total}", flush=True))
    except (FrameBridgeError, RuntimeError) as error:  # nuke.execute raises RuntimeError when a render fails
        _report(error if isinstance(error, FrameBridgeError) else FrameBridgeError(f"rendering the inputs stopped ({error})"))
        return None


def _prepare(node: Any) -> _Job:
    """Main thread: the knobs, both inputs' ranges and the plate's height, checked."""
    plate, driver = node.input(0), node.input(1)
    if plate is None or driver is None:
        raise MissingInput("the Expression node needs a plate (input 0) and a driver (input 1)",
                           fix="connect the plate to the first input and the performance to the second")
    values = {name: node[name].value() for name in EXPRESSION_VALUE_KNOBS}
    frames = choose_frames(str(values["range_mode"]), int(plate.firstFrame()), int(plate.lastFrame()), str(values["frames"]))
    height = int(plate.format().height())
    request = expression_request(values, frames, height, int(driver.firstFrame()), int(driver.lastFrame()))
    output = str(values["output_folder"]).strip() or default_output_folder(nuke.root()["name"].value(), node.name(), "expression")
    return _Job(request, tuple(frames), height, str(values["backend"]).strip() or None, output,
                connection_settings(values), choose_view("", nuke.views()), plate, driver)


def _check(job: _Job) -> None:
    """Thread: the server answers and offers ``expression``."""
    client = connect(job.connection)
    try:
        check_server(client, "expression")
    finally:
        client.close()


def _capture(job: _Job) -> tuple[CaptureFolder, CaptureFolder]:
    """Main thread: render the plate's frames and the driver's paired frames and reference."""
    plate_capture, driver_capture = CaptureFolder(), CaptureFolder()
    with removed_on_failure(plate_capture, driver_capture):
        render_capture(job.plate, _RGBA, job.frames, plate_capture, job.view)
        render_capture(job.driver, _RGBA, job.request.driver_frames, driver_capture, job.view)
    return plate_capture, driver_capture


def _stream(job: _Job, captured: tuple[CaptureFolder, CaptureFolder], progress: background.Progress,
            cancelled: Callable[[], bool]) -> tuple[SessionResult, dict[int, dict[str, Any]]]:
    """Thread: send the paired frames with the driver's reference; the captures are removed afterwards."""
    plate_capture, driver_capture = captured
    metas: dict[int, dict[str, Any]] = {}
    try:
        driver_frames = capture_source(driver_capture.path, ("beauty",))
        source = paired_source(capture_source(plate_capture.path, ("beauty",)), driver_frames, job.request.driving_offset)
        client = connect(job.connection)
        try:
            result = run_session(client, "expression", list(job.frames), source, output_folder=job.output_folder,
                                 params=job.request.params, backend=job.backend, progress=progress, cancelled=cancelled,
                                 job_buffers={"reference": driver_frames(job.request.reference_frame)["beauty"]},
                                 on_meta=metas.__setitem__)
        finally:
            client.close()
    finally:
        plate_capture.remove()
        driver_capture.remove()
    return result, metas


def _finish(node: Any, job: _Job, outcome: tuple[SessionResult, dict[int, dict[str, Any]]]) -> Any:
    """Main thread: the result and the corner pin placed, or why there are none."""
    result, metas = outcome
    try:
        result.raise_for_failure()
    except FrameBridgeError as error:
        _report(error)
        return None
    if not background.alive(node):
        _report(FrameBridgeError(f"the Expression node was deleted while its job ran; the results are in {result.read['file']}"))
        return None
    return place_results(node, result, metas, job.height)


def place_results(node: Any, result: SessionResult, metas: dict[int, dict[str, Any]], height: int) -> Any:
    """The result Read wired to the Group's output, and a CornerPin2D following the face beside the node."""
    node.begin()
    try:
        read = nuke.nodes.Read()
        fill_read(read, result.read)
        outputs = [child for child in nuke.allNodes("Output")]
        for output in outputs:
            output.setInput(0, read)
    finally:
        node.end()
    pin = nuke.nodes.CornerPin2D()
    pin.setName(f"{node.name()}_face", uncollide=True)
    tracks = corner_tracks(metas, height)
    if tracks:
        first = tracks[min(tracks)]
        for index, (x, y) in enumerate(first, start=1):
            pin[f"from{index}"].setValue([x, y])
        for index in range(1, 5):
            knob = pin[f"to{index}"]
            knob.setAnimated()
            for number, corners in tracks.items():
                x, y = corners[index - 1]
                knob.setValueAt(x, number, 0)
                knob.setValueAt(y, number, 1)
    x, y = beside(node.xpos(), node.ypos(), node.screenWidth())
    pin.setXYpos(x, y)
    if result.warnings:
        lines = "; ".join(f"frame {number}: {' '.join(messages)}" for number, messages in sorted(result.warnings.items()))
        _report(FrameBridgeError(f"expression finished with warnings: {lines}"))
    return pin
