"""The shared FrameBridge node: a Group built from knob specs, with a result switch and a visible state.

Every FrameBridge node kind (this plugin's restyle/extract node, and any later one)
is a tuple of :class:`~..core.knobs.KnobSpec` plus :func:`build_node`. Inside, the
Group is ``Input "Source" (0)`` and ``Input "Result"`` (1, or after a node kind's
extra inputs) into a ``Switch`` named ``ResultSwitch`` driven by the ``show`` knob,
into ``Output``: the result's Read sits in the node's parent and is wired into the
Result input (:func:`show_result`). The state of
the last send shows on the node itself (tile colour, label, ``status`` knob), so
routine outcomes need no modal popup. Knobs are read with :func:`knob_values`,
which gives a knob's default when an older saved node lacks it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Mapping

import nuke

from framebridge.protocol.errors import FrameBridgeError

from ..core.knobs import ICON, SHOW_CHOICES, KnobSpec
from ..core.marker import MARKER

__all__ = [
    "STATES",
    "is_bridge_node",
    "make_knob",
    "build_node",
    "on_selection",
    "knob_values",
    "apply_knob_states",
    "set_state",
    "show_result",
    "sync_switch",
    "parent_of",
    "without_undo",
    "undo_step",
]

SWITCH = "ResultSwitch"
RESULT = "Result"  # the Input the result's Read is wired into
# State -> tile colour (0xRRGGBBAA; 0 is Nuke's default for a Group).
STATES = {"idle": 0, "sending": 0x3A6EA5FF, "done": 0x4C9A2AFF, "cancelled": 0xC08A2EFF, "failed": 0xB22222FF}

_LABELLED_KNOBS = {
    "tab": "Tab_Knob",
    "string": "String_Knob",
    "multiline": "Multiline_Eval_String_Knob",
    "double": "Double_Knob",
    "int": "Int_Knob",
    "bool": "Boolean_Knob",
    "file": "File_Knob",
}
_VALUELESS = ("tab", "text", "button")


def is_bridge_node(node: Any) -> bool:
    return node is not None and node.knob(MARKER) is not None


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
    if spec.kind not in _VALUELESS and spec.default is not None:
        knob.setValue(spec.default)
    if spec.tooltip:
        knob.setTooltip(spec.tooltip)
    if not spec.new_line:
        knob.clearFlag(nuke.STARTLINE)
    return knob


def build_node(specs: Iterable[KnobSpec], name: str, input_node: Any = None, help_text: str = "",
               extra_inputs: Iterable[str] = ()) -> Any:
    """A Group with ``specs`` as knobs that passes its input through until a result is shown, in the current context.

    ``extra_inputs`` name more inputs (numbered from 1, e.g. a node's keyframes); the result's input comes after them.
    """
    group = nuke.nodes.Group()
    group.setName(name, uncollide=True)
    with group:
        source = nuke.nodes.Input(name="Source")
        for input_name in extra_inputs:
            nuke.nodes.Input(name=input_name)
        result = nuke.nodes.Input(name=RESULT)
        switch = nuke.nodes.Switch(name=SWITCH, inputs=[source, result])
        nuke.nodes.Output(inputs=[switch])
    for spec in specs:
        group.addKnob(make_knob(spec))
    if help_text and group.knob("help") is not None:
        group["help"].setValue(help_text)
    group["icon"].setValue(ICON)
    if input_node is not None:
        group.setInput(0, input_node)
        group.setXYpos(input_node.xpos(), input_node.ypos() + 60)
    return group


def on_selection(create: Callable[[Any, Any], Any]) -> Any:
    """Menu: ``create(first selected node, second selected node)`` (None where fewer are selected), its panel
    opened in the GUI."""
    selected = nuke.selectedNodes()
    node = create(selected[0] if selected else None, selected[1] if len(selected) > 1 else None)
    if nuke.GUI:
        node.showControlPanel()
    return node


def knob_values(node: Any, specs: Iterable[KnobSpec], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Values of the value knobs in ``specs`` (free text raw, via getText); a knob the node lacks gives its default."""
    values = {}
    for spec in specs:
        if spec.kind in _VALUELESS:
            continue
        knob = node.knob(spec.name) if node is not None else None
        if knob is None:
            values[spec.name] = spec.default
        elif spec.kind in ("string", "multiline"):
            values[spec.name] = knob.getText()
        else:
            values[spec.name] = knob.value()
    values.update(overrides or {})
    return values


def apply_knob_states(node: Any, states: Mapping[str, bool]) -> None:
    """Enable or grey out knobs; knobs an older saved node lacks are skipped."""
    for name, enabled in states.items():
        knob = node.knob(name)
        if knob is not None:
            knob.setEnabled(enabled)


def set_state(node: Any, state: str, text: str) -> None:
    """Show how the last send went on the node: tile colour, a one-line label and the full text in ``status``."""
    node["tile_color"].setValue(STATES[state])
    node["label"].setValue(text.splitlines()[0][:60] if text else "")
    if node.knob("status") is not None:
        node["status"].setValue(text)


def sync_switch(node: Any) -> None:
    """Point the inner Switch at the input or the result, as the ``show`` knob says (older nodes have neither)."""
    switch = node.node(SWITCH)
    if switch is not None and node.knob("show") is not None:
        switch["which"].setValue(SHOW_CHOICES.index(node["show"].value()))


def show_result(node: Any, read: Any) -> bool:
    """Wire ``read`` into the node's result input and show it; False for an older node without the switch."""
    if node.node(SWITCH) is None or node.knob("show") is None:
        return False
    node.setInput(int(node.node(RESULT)["number"].value()), read)
    node["show"].setValue("result")
    sync_switch(node)
    return True


def parent_of(node: Any) -> Any:
    """The Group (or Root) that holds ``node``: where nodes beside it must be created."""
    path = node.fullName().rsplit(".", 1)
    if len(path) == 1:
        return nuke.root()
    with nuke.root():
        return nuke.toNode(path[0])


@contextmanager
def without_undo() -> Iterator[None]:
    """Nodes made and deleted in here (the capture) leave nothing in Edit > Undo."""
    nuke.Undo.disable()
    try:
        yield
    finally:
        nuke.Undo.enable()


@contextmanager
def undo_step(name: str) -> Iterator[None]:
    """Everything in here is one Edit > Undo step named ``name``."""
    nuke.Undo.begin()
    nuke.Undo.name(name)
    try:
        yield
    finally:
        nuke.Undo.end()
