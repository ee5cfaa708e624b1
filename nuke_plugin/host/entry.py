"""Entry functions: what the menu items, the FrameBridge node's buttons and ``nuke -t`` scripts call.

A Send is described in :mod:`.send`; callbacks are in :mod:`.callbacks`. GUI calls
never block on the network: the server check and the stream run in Python threads.
Without a GUI (``nuke -t``) everything runs in the calling thread, progress is
printed and the headless functions raise typed errors.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import nuke

from framebridge.protocol.errors import FrameBridgeError, MissingInput
from framebridge.protocol.session import connect

from ..core.job import connection_settings
from ..core.layers import available_conditions
from ..core.session import check_server
from . import builder, send
from .nodes import apply_knob_states, create_bridge_node, is_bridge_node, knob_values, source_of

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
]


def _selected() -> Any:
    try:
        return nuke.selectedNode()
    except ValueError:
        raise MissingInput("no node is selected", fix="select the node whose output you want to send") from None


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
        send.fail(None, error)
        return
    if is_bridge_node(node) and node.knob("op") is not None:  # other FrameBridge kinds (Propagate) get a node after them
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


def _server_summary(node: Any) -> str:
    client = connect(connection_settings(knob_values(node) if node is not None else {}))
    try:
        return check_server(client).summary()
    finally:
        client.close()


def _show_connection(node: Any, text: str, ok: bool) -> None:
    if node is not None and is_bridge_node(node) and send.alive(node):
        if node.knob("status") is not None:
            with builder.without_undo():
                node["status"].setValue(f"server: {text}")
        if not ok:
            print(f"FrameBridge: {text}", file=sys.stderr, flush=True)
    elif nuke.GUI:
        nuke.message(f"FrameBridge: {text}" if not ok else text)
    else:
        print(text, file=sys.stdout if ok else sys.stderr, flush=True)


def _check_connection(node: Any) -> None:
    try:
        text, ok = _server_summary(node), True
    except FrameBridgeError as error:
        text, ok = str(error), False
    if nuke.GUI:
        nuke.executeInMainThread(_show_connection, args=(node, text, ok))
    else:
        _show_connection(node, text, ok)


def test_connection(node: Any = None) -> threading.Thread | None:
    """Ask the server the node (or the default connection file) points at what it offers; off the main thread in a GUI.

    The answer goes in the node's status (or a message from the menu, with no node).
    """
    if not nuke.GUI:
        _check_connection(node)
        return None
    thread = threading.Thread(target=_check_connection, args=(node,), name="FrameBridge connection", daemon=True)
    thread.start()
    return thread


def send_node(node: Any) -> None:
    """Button/menu: capture the node's input, stream it to the server, show the result on the node."""
    try:
        request, source = send.prepare(node)
    except FrameBridgeError as error:
        send.fail(node, error)
        return
    if nuke.GUI:
        send.send_in_background(node, request, source)
        return
    try:
        send.check(request)
        folder = send.capture(request, source)
        result = send.stream(request, folder, send.print_progress, lambda: False)
    except (FrameBridgeError, RuntimeError) as error:
        send.fail(node, error)
        return
    send.place(node, request, result)


def run_node(node_name: str, op: str | None = None, first: int | None = None, last: int | None = None,
             output_folder: str | None = None, **knobs: Any) -> Any:
    """Headless (``nuke -t``): send a node's output through ``op`` and return the Read node of the results.

    ``node_name`` is a FrameBridge node (its knobs apply) or any other node (the
    defaults apply). ``first``/``last`` override the frame range (default: the
    input's), ``knobs`` override FrameBridge knob values (``prompt="oil paint"``,
    ``cond_depth=True``, ``connection_file=...``). Results go into the next version
    folder inside the output folder. Raises the typed error of a failed, cancelled
    or unreachable job; nothing is published unless every frame came back.
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
    request, source = send.prepare(node, overrides)
    send.check(request)
    folder = send.capture(request, source)
    result = send.stream(request, folder, send.print_progress, lambda: False)
    result.raise_for_failure()
    return send.place(node, request, result)


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
