"""Nuke nodes and knobs <-> plain values: the FrameBridge node, the internal Write, the result Read.

Only calls documented in Nuke's Python API: ``nuke.nodes.<Class>()``,
``node[name].setValue``/``value``/``isAnimated``/``valueAt``/``setEnabled``,
``node.addKnob``, ``node.setName(name, uncollide=True)``, ``node.channels()``, ``nuke.execute(node, first, last, 1)``,
``nuke.delete``, ``node.setXYpos``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import nuke

from framebridge.protocol.errors import FrameBridgeError, MissingInput

from ..core.job import contiguous_runs
from ..core.knobs import ANIMATED_KNOBS, BRIDGE_KNOBS, MARKER, VALUE_KNOBS, KnobSpec
from ..core.layers import LayerPlan, remove_knobs, write_knobs
from ..core.paths import CaptureFolder, beside
from ..core.requests import knob_states

__all__ = [
    "is_bridge_node",
    "make_knob",
    "create_bridge_node",
    "knob_values",
    "sample_knobs",
    "apply_knob_states",
    "set_knobs",
    "source_of",
    "render_capture",
    "create_read",
]


def is_bridge_node(node: Any) -> bool:
    return node is not None and node.knob(MARKER) is not None


# Knob kinds whose Nuke class takes just the name and the label.
_LABELLED_KNOBS = {
    "tab": "Tab_Knob",
    "string": "String_Knob",
    "multiline": "Multiline_Eval_String_Knob",
    "double": "Double_Knob",
    "int": "Int_Knob",
    "bool": "Boolean_Knob",
    "file": "File_Knob",
}


def make_knob(spec: KnobSpec) -> Any:
    """The Nuke knob for one spec."""
    if spec.kind in _LABELLED_KNOBS:
        knob = getattr(nuke, _LABELLED_KNOBS[spec.kind])(spec.name, spec.label)
    elif spec.kind == "text":
        knob = nuke.Text_Knob(spec.name, spec.label, str(spec.default or ""))
    elif spec.kind == "enum":
        knob = nuke.Enumeration_Knob(spec.name, spec.label, list(spec.choices))
    elif spec.kind == "button":
        knob = nuke.PyScript_Knob(spec.name, spec.label, str(spec.default))
    else:
        raise FrameBridgeError(f"unknown knob kind {spec.kind!r} for {spec.name!r}")
    if spec.kind not in ("tab", "text", "button") and spec.default is not None:
        knob.setValue(spec.default)
    if spec.tooltip:
        knob.setTooltip(spec.tooltip)
    if not spec.new_line:
        knob.clearFlag(nuke.STARTLINE)
    return knob


def create_bridge_node(op: str = "restyle", input_node: Any = None) -> Any:
    """A FrameBridge node: a Group passing its input through, with the FrameBridge knobs."""
    group = nuke.nodes.Group()
    group.setName("FrameBridge1", uncollide=True)
    group.begin()
    try:
        nuke.nodes.Output(inputs=[nuke.nodes.Input(name="Source")])
    finally:
        group.end()
    for spec in BRIDGE_KNOBS:
        group.addKnob(make_knob(spec))
    group["op"].setValue(op)
    if input_node is not None:
        group.setInput(0, input_node)
        group.setXYpos(input_node.xpos(), input_node.ypos() + 60)
    apply_knob_states(group)
    return group


def knob_values(node: Any, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Current values of a FrameBridge node's knobs, or the defaults for any other node; ``overrides`` win."""
    if is_bridge_node(node):
        values = {name: node[name].value() for name in VALUE_KNOBS}
    else:
        values = {spec.name: spec.default for spec in BRIDGE_KNOBS if spec.name in VALUE_KNOBS}
    values.update(overrides or {})
    return values


def sample_knobs(node: Any, values: dict[str, Any], frames: Iterable[int]) -> dict[str, Any]:
    """``values`` with each animated knob of the node replaced by ``{frame: value}`` samples."""
    sampled = dict(values)
    if not is_bridge_node(node):
        return sampled
    frames = list(frames)
    for name in ANIMATED_KNOBS:
        knob = node[name]
        if knob.isAnimated():
            sampled[name] = {frame: knob.valueAt(frame) for frame in frames}
    return sampled


def apply_knob_states(node: Any) -> None:
    """Grey out the knobs that do not apply to the node's current op and switches."""
    for name, enabled in knob_states(knob_values(node)).items():
        node[name].setEnabled(enabled)


def set_knobs(node: Any, knobs: Mapping[str, Any]) -> None:
    """Set knob values in order."""
    for name, value in knobs.items():
        knob = node.knob(name)
        if knob is None:
            raise FrameBridgeError(f"{node.Class()} node {node.name()} has no knob {name!r}")
        try:
            knob.setValue(value)
        except ValueError:
            # An OCIO config without a 'linear' colour space: keep Nuke's default for EXR (its scene-linear role).
            if name != "colorspace":
                raise


def source_of(node: Any) -> Any:
    """The node whose output is sent: a FrameBridge node's input, or the node itself."""
    if not is_bridge_node(node):
        return node
    source = node.input(0)
    if source is None:
        raise MissingInput(f"{node.name()} has no input", fix="connect the node whose output you want to send")
    return source


def render_capture(source: Any, layers: LayerPlan, frames: Iterable[int], capture: CaptureFolder) -> None:
    """Write ``layers`` of ``source`` to ``capture`` as float EXRs, with internal nodes deleted afterwards."""
    frames = sorted(frames)
    temporary = []
    try:
        upstream = source
        keep = remove_knobs(layers.layers)
        if keep is not None:
            upstream = nuke.nodes.Remove(inputs=[source])
            temporary.append(upstream)
            set_knobs(upstream, keep)
        write = nuke.nodes.Write(inputs=[upstream])
        temporary.append(write)
        set_knobs(write, write_knobs(capture.pattern, layers.layers, frames[0], frames[-1]))
        for first, last in contiguous_runs(frames):
            nuke.execute(write, first, last, 1)
    finally:
        for node in reversed(temporary):
            nuke.delete(node)


def create_read(knobs: Mapping[str, Any], next_to: Any) -> Any:
    """A Read node for a published result sequence, placed just right of ``next_to`` and left unconnected."""
    read = nuke.nodes.Read()
    set_knobs(read, knobs)
    x, y = beside(next_to.xpos(), next_to.ypos(), next_to.screenWidth())
    read.setXYpos(x, y)
    return read
