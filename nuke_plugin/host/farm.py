"""``nuke -t framebridge_send.py ...``: open a script, send one node for a frame range, optionally save it.

The node is a FrameBridge node (restyle, extract, echo) or a FrameBridge Propagate node.

Exit status 0 when every frame came back and was published, 1 with the typed
error's message (and fix) otherwise, so a farm marks the task failed.
"""

from __future__ import annotations

import sys

import nuke

from framebridge.protocol.errors import FrameBridgeError

from ..core.farm import parse_farm_args
from . import entry, propagate

__all__ = ["main"]


def main(argv: list[str]) -> int:
    try:
        request = parse_farm_args(argv)
        nuke.scriptOpen(request.script)
        if propagate.is_propagate_node(nuke.toNode(request.node)):
            read = propagate.run_node(request.node, request.first, request.last, request.output_folder, **request.knobs)
        else:
            read = entry.run_node(request.node, None, request.first, request.last, request.output_folder, **request.knobs)
        if request.save_as:
            nuke.scriptSaveAs(request.save_as)
    except (FrameBridgeError, RuntimeError) as error:  # Nuke raises RuntimeError for a script it cannot open or render
        print(f"FrameBridge: {error}", file=sys.stderr, flush=True)
        return 1
    print(f"FrameBridge: {request.node} -> {read['file'].getText()}", flush=True)
    return 0
