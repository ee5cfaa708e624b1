"""The callbacks ``init.py`` registers: cheap for every Group Nuke creates, heavy imports only for FrameBridge nodes.

``init.py`` runs at every Nuke start, farm renders of unrelated scripts included,
so this module imports only ``nuke`` and the marker; numpy, zmq and the rest of
the plugin load the first time a FrameBridge node needs them.
"""

from __future__ import annotations

import nuke

from ..core.marker import MARKER

__all__ = ["on_create", "on_knob_changed", "STATE_KNOBS"]

# "showPanel" is the dummy knob Nuke passes when the control panel opens.
STATE_KNOBS = frozenset(("showPanel", "op", "temporal", "range_mode", "show",
                         *(f"cond_{name}" for name in ("depth", "normal", "segmentation", "canny", "lineart", "pose"))))


def _bridge_node():
    node = nuke.thisNode()
    return node if node is not None and node.knob(MARKER) is not None else None


def on_create() -> None:
    """``addOnCreate`` for Groups: grey out a loaded FrameBridge node's unused knobs (GUI only; a farm needs no panel)."""
    node = _bridge_node()
    if node is not None and nuke.GUI:
        from .nodes import apply_knob_states

        apply_knob_states(node)


def on_knob_changed() -> None:
    """``addKnobChanged`` for Groups: keep a FrameBridge node's knob states and result switch current."""
    node = _bridge_node()
    if node is None or nuke.thisKnob().name() not in STATE_KNOBS:
        return
    from .builder import sync_switch
    from .nodes import apply_knob_states

    apply_knob_states(node)
    sync_switch(node)
