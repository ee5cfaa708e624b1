"""The restyle/extract FrameBridge node, the internal capture Write and the result Read.

Only calls documented in Nuke's Python API: ``nuke.nodes.<Class>()`` (made inside
the right group with ``with group:``), ``Knob.setValue``/``getText``/``value``/
``isAnimated``/``valueAt``, ``File_Knob.fromUserText``, ``Enumeration_Knob.values``,
``Node.fullName``/``channels``/``setXYpos``, ``nuke.execute(node, first, last, 1)``,
``nuke.delete``, ``nuke.views``, ``nuke.Undo``. The generic Group, its switch and
its state live in :mod:`.builder`.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import nuke

from framebridge.protocol.errors import FrameBridgeError, MissingInput

from ..core.colour import result_colorspace
from ..core.job import contiguous_runs
from ..core.knobs import ANIMATED_KNOBS, BRIDGE_KNOBS, HELP
from ..core.layers import LayerPlan, remove_knobs, write_knobs
from ..core.paths import CaptureFolder, beside
from ..core.requests import knob_states
from . import builder
from .builder import is_bridge_node, make_knob

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


def create_bridge_node(op: str = "restyle", input_node: Any = None) -> Any:
    """A FrameBridge node for ``op`` in the current context: input passed through until a result is shown."""
    group = builder.build_node(BRIDGE_KNOBS, "FrameBridge1", input_node, HELP)
    group["op"].setValue(op)
    apply_knob_states(group)
    return group


def knob_values(node: Any, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The FrameBridge knobs' values of a FrameBridge node, or the defaults for any other node; ``overrides`` win."""
    values = builder.knob_values(node if is_bridge_node(node) else None, BRIDGE_KNOBS)
    values.update(overrides or {})
    return values


def sample_knobs(node: Any, values: dict[str, Any], frames: Iterable[int]) -> dict[str, Any]:
    """``values`` with each animated knob of the node replaced by ``{frame: value}`` samples."""
    sampled = dict(values)
    if not is_bridge_node(node):
        return sampled
    frames = list(frames)
    for name in ANIMATED_KNOBS:
        knob = node.knob(name)
        if knob is not None and knob.isAnimated():
            sampled[name] = {frame: knob.valueAt(frame) for frame in frames}
    return sampled


def apply_knob_states(node: Any) -> None:
    """Grey out the knobs that do not apply to the node's current op and switches."""
    builder.apply_knob_states(node, knob_states(knob_values(node)))


def set_knobs(node: Any, knobs: Mapping[str, Any]) -> None:
    """Set knob values in order."""
    for name, value in knobs.items():
        knob = node.knob(name)
        if knob is None:
            raise FrameBridgeError(f"{node.Class()} node {node.name()} has no knob {name!r}")
        knob.setValue(value)


def source_of(node: Any) -> Any:
    """The node whose output is sent: a FrameBridge node's input, or the node itself."""
    if not is_bridge_node(node):
        return node
    source = node.input(0)
    if source is None:
        raise MissingInput(f"{node.name()} has no input", fix="connect the node whose output you want to send")
    return source


def render_capture(source: Any, layers: LayerPlan, frames: Iterable[int], capture: CaptureFolder, view: str) -> None:
    """Write ``layers`` of ``source`` in ``view`` to ``capture`` as float EXRs; the internal nodes are deleted afterwards.

    They are made beside ``source`` (not in whatever group a button runs in) and kept
    out of the undo history.
    """
    frames = sorted(frames)
    temporary = []
    with builder.without_undo(), builder.parent_of(source):
        try:
            upstream = source
            keep = remove_knobs(layers.layers)
            if keep is not None:
                upstream = nuke.nodes.Remove(inputs=[source])
                temporary.append(upstream)
                set_knobs(upstream, keep)
            write = nuke.nodes.Write(inputs=[upstream])
            temporary.append(write)
            set_knobs(write, write_knobs(capture.pattern, layers.layers, frames[0], frames[-1], view))
            for first, last in contiguous_runs(frames):
                nuke.execute(write, first, last, 1)
        finally:
            for node in reversed(temporary):
                nuke.delete(node)


def create_read(knobs: Mapping[str, Any], next_to: Any, working_space: str | None = None) -> Any:
    """A Read node for a published result sequence, in ``next_to``'s group, just right of it.

    The file goes in through ``fromUserText`` with its range, so Nuke reads the
    format; the colorspace is named only when the working space is one of the
    knob's entries (the values are read raw either way).
    """
    with builder.parent_of(next_to):
        read = nuke.nodes.Read()
    fill_read(read, knobs, working_space)
    x, y = beside(next_to.xpos(), next_to.ypos(), next_to.screenWidth())
    read.setXYpos(x, y)
    return read


def fill_read(read: Any, knobs: Mapping[str, Any], working_space: str | None = None) -> None:
    """Point a Read at a published result sequence (see :func:`create_read`)."""
    read["file"].fromUserText(str(knobs["file_text"]))
    set_knobs(read, {name: value for name, value in knobs.items() if name not in ("file", "file_text")})
    colorspace = result_colorspace(read["colorspace"].values(), working_space)
    if colorspace is not None:
        read["colorspace"].setValue(colorspace)
