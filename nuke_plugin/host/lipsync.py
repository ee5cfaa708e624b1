"""The FrameBridge LipSync node in Nuke: a pass-through Group whose button turns an audio file into mouth curves.

Only calls documented in Nuke's Python API: ``nuke.nodes.Group/Input/Output``,
``node.addKnob``, ``knob.clearAnimated``/``setAnimated``/``setValueAt``,
``knob.animation(0).changeInterpolation(keys, nuke.CONSTANT)`` and
``nuke.root()["fps"]``. The request and the curves are built in
:mod:`..core.lipsync`; the server's ``lipsync`` op makes the cues.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import nuke

from framebridge.protocol.client import DoneEvent, ResultEvent
from framebridge.protocol.errors import FrameBridgeError, InvalidParams
from framebridge.protocol.files import atomic_path
from framebridge.protocol.session import connect

from ..core.job import connection_settings
from ..core.lipsync import LIPSYNC_KNOBS, MARKER, SHAPE_KNOBS, curves_from_results, lipsync_params, read_wav
from .nodes import make_knob

__all__ = ["create_node", "is_lipsync_node", "generate", "run_node"]

_VALUE_KINDS = ("file", "multiline", "string", "int", "double", "enum", "bool")


def is_lipsync_node(node: Any) -> bool:
    return node is not None and node.knob(MARKER) is not None


def create_node(input_node: Any = None) -> Any:
    """A LipSync node (after ``input_node`` when given) starting at the script's first frame."""
    group = nuke.nodes.Group()
    group.setName("LipSync1", uncollide=True)
    group.begin()
    try:
        nuke.nodes.Output(inputs=[nuke.nodes.Input(name="Source")])
    finally:
        group.end()
    for spec in LIPSYNC_KNOBS:
        group.addKnob(make_knob(spec))
    first_frame = nuke.root().knob("first_frame")
    if first_frame is not None:
        group["start_frame"].setValue(int(first_frame.value()))
    if input_node is not None:
        group.setInput(0, input_node)
        group.setXYpos(input_node.xpos(), input_node.ypos() + 60)
    return group


def _values(node: Any) -> dict[str, Any]:
    return {spec.name: node[spec.name].value() for spec in LIPSYNC_KNOBS
            if spec.kind in _VALUE_KINDS and spec.name not in SHAPE_KNOBS and spec.name != "mouth_open"}


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
    _set_curves(node, curves_from_results(metas, frames))
    track = next(meta for meta in metas.values() if "cues" in meta)
    if "format" in params:
        with atomic_path(Path(values["cue_file"])) as temporary:
            temporary.write_text(track["cue_file"], encoding="utf-8", newline="\n")
    summary = f"{len(track['cues'])} cues ({track['method']}), frames {frames[0]}-{frames[-1]}"
    node["status"].setValue("; ".join([summary, *track["notes"]]))
    return summary


def generate(node: Any) -> None:
    """The Generate Cues button: errors go to a message (or stderr without a GUI) and the status line."""
    try:
        run_node(node.name())
    except FrameBridgeError as error:
        node["status"].setValue(f"error: {error}")
        if nuke.GUI:
            nuke.message(f"FrameBridge LipSync: {error}")
        else:
            print(f"FrameBridge LipSync: {error}", file=sys.stderr)
