"""The FrameBridge node's knobs, as data: the host layer builds them, reads them and greys them out.

Each :class:`KnobSpec` names a knob, its kind (mapped to a Nuke knob class in
:mod:`..host.nodes`), label, default and choices. ``animated`` knobs are sampled per
frame and travel as keyframes when they change over the range.
"""

from __future__ import annotations

from dataclasses import dataclass

from .marker import MARKER
from .requests import CONDITIONS, LOOKS, NORMAL_SPACES, OPS, PALETTES, RANGE_MODES

__all__ = ["KnobSpec", "MARKER", "BRIDGE_KNOBS", "SERVER_KNOBS", "VALUE_KNOBS", "ANIMATED_KNOBS", "RAW_TEXT_KNOBS", "SEND_COMMAND",
           "TEST_COMMAND", "SHOW_CHOICES", "HELP", "ICON"]

SHOW_CHOICES = ("input", "result")
ICON = "FrameBridge.png"
HELP = (
    "FrameBridge: sends this node's input to a FrameBridge server (restyle, extract conditions, echo) and reads the "
    "result back as float EXRs in the script's working space.\n"
    "Send renders the input (the frame range and view on this tab), streams it under Nuke's progress bar (Cancel "
    "stops the server job) and writes a new version folder; the result's Read sits beside this node, wired into "
    "its second input, and 'show' switches between input and result. The tile colour and status say how the last "
    "send ended. Server tab: the connection file made for this workstation (framebridge connection)."
)

SEND_COMMAND = "from framebridge.nuke_plugin.host import entry; entry.send_node(nuke.thisNode())"
TEST_COMMAND = "from framebridge.nuke_plugin.host import entry; entry.test_connection(nuke.thisNode())"


@dataclass(frozen=True)
class KnobSpec:
    """One knob: ``kind`` is tab, text, enum, string, multiline, double, int, bool, file or button."""

    kind: str
    name: str
    label: str = ""
    default: object = None
    choices: tuple[str, ...] = ()
    tooltip: str = ""
    animated: bool = False
    new_line: bool = True


def _conditions() -> list[KnobSpec]:
    specs = []
    for name in CONDITIONS:
        specs.append(KnobSpec("bool", f"cond_{name}", name, False, tooltip=f"send or extract the {name} condition"))
        specs.append(KnobSpec("double", f"cond_{name}_weight", "weight", 1.0, new_line=False,
                              tooltip="ControlNet weight (0..2) for restyle backends that use conditions"))
    return specs


# The Server tab every FrameBridge node kind ends with.
SERVER_KNOBS: tuple[KnobSpec, ...] = (
    KnobSpec("tab", "server_tab", "Server"),
    KnobSpec("file", "connection_file", "connection file", "", tooltip="empty: the default connection file"),
    KnobSpec("string", "address", "address override", "", tooltip="e.g. tcp://127.0.0.1:5555 (the key still comes from the file)"),
    KnobSpec("double", "timeout", "reply timeout (s)", 5.0, tooltip="how long to wait for the server to answer a request"),
)

BRIDGE_KNOBS: tuple[KnobSpec, ...] = (
    KnobSpec("tab", "framebridge_tab", "FrameBridge"),
    KnobSpec("text", MARKER, "", "FrameBridge"),
    KnobSpec("text", "status", "status", "not sent yet"),
    KnobSpec("enum", "show", "show", "input", SHOW_CHOICES,
             "input: pass the input through; result: the last result's Read (wired into this node's second input)"),
    KnobSpec("enum", "op", "op", "restyle", OPS, "restyle: video-to-video; extract: ControlNet conditions; echo: diagnostics"),
    KnobSpec("string", "backend", "backend", "",
             tooltip="empty: the op's default backend (restyle: cpu, extract: builtin); e.g. diffusers, estimators"),
    KnobSpec("multiline", "prompt", "prompt", "", tooltip="what the restyle should look like; sent as typed (no TCL)"),
    KnobSpec("multiline", "negative_prompt", "negative prompt", "", tooltip="what the restyle should avoid; sent as typed"),
    KnobSpec("double", "strength", "strength", 0.6, tooltip="0: the input, 1: the full look; animatable", animated=True),
    KnobSpec("int", "seed", "seed", 0, tooltip="the shot seed (each frame derives its own); animatable", animated=True),
    KnobSpec("bool", "temporal", "temporal", True, tooltip="carry the previous result along the motion vectors"),
    KnobSpec("double", "temporal_strength", "temporal strength", 0.8, animated=True, new_line=False,
             tooltip="how much of the previous result is carried into the next frame; animatable"),
    KnobSpec("enum", "look", "look (cpu)", "auto", LOOKS, tooltip="the cpu backend's stylisation"),
    KnobSpec("enum", "palette", "palette (cpu)", "none", PALETTES, new_line=False, tooltip="the cpu backend's colour palette"),
    KnobSpec("text", "conditions_label", "conditions", ""),
    *_conditions(),
    KnobSpec("enum", "normal_space", "normals are in", "camera", NORMAL_SPACES,
             tooltip="world-space normals need the camera, which this node does not send"),
    KnobSpec("bool", "depth_is_inverse", "depth is 1/z (ScanlineRender)", False,
             tooltip="ScanlineRender writes depth as 1/z; tick to send it as a distance"),
    KnobSpec("enum", "range_mode", "frame range", "input", RANGE_MODES, tooltip="input: the input's frame range; custom: the frames knob"),
    KnobSpec("string", "frames", "frames", "1-10", tooltip="e.g. 1001-1100, 1,5,9 or 1-100x10", new_line=False),
    KnobSpec("string", "view", "view", "", tooltip="the view to send from a stereo script; empty: the script's first view"),
    KnobSpec("file", "output_folder", "output folder", "",
             tooltip="empty: framebridge/<node>_<op> next to the script; each send writes a new v001, v002, ... inside"),
    KnobSpec("multiline", "extra_params", "extra params (JSON)", "",
             tooltip='more op params as JSON, e.g. {"steps": 30, "cache": false}; sent as typed (no TCL)'),
    KnobSpec("button", "send", "Send", SEND_COMMAND, tooltip="render the input, send it to the server and show the result"),
    KnobSpec("button", "test_connection", "Test Connection", TEST_COMMAND, new_line=False,
             tooltip="ask the server for its version and ops, without freezing Nuke"),
    *SERVER_KNOBS,
)

VALUE_KNOBS: tuple[str, ...] = tuple(spec.name for spec in BRIDGE_KNOBS if spec.kind not in ("tab", "text", "button"))
# Free text read with getText(): value() would run TCL substitution on brackets and dollars in a prompt or JSON.
RAW_TEXT_KNOBS: tuple[str, ...] = tuple(spec.name for spec in BRIDGE_KNOBS if spec.kind in ("string", "multiline"))
ANIMATED_KNOBS: tuple[str, ...] = tuple(spec.name for spec in BRIDGE_KNOBS if spec.animated)
