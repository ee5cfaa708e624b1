"""The FrameBridge Propagate node as data: its knobs, the keyframe list, the request and the frames it sends.

Two inputs: the shot (input 0: its rgba and the passes the op uses: motion both
ways, depth, object ids) and the painted keyframes (input 1, e.g. a RotoPaint over
FrameHolds of the shot). The keyframe list knob names the frames to read from
input 1; each travels with its shot frame as the ``keyframe`` buffer of the
server's ``propagate`` op, which returns ``beauty`` and a ``confidence`` layer
(trust, distance to the nearest keyframe, synthesised share) for every frame.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from framebridge.protocol import passes
from framebridge.protocol.errors import InvalidParams, MissingInput, ShapeMismatch
from framebridge.protocol.session import ConnectionSettings

from .job import connection_settings, default_output_folder
from .knobs import SERVER_KNOBS, SHOW_CHOICES, TEST_COMMAND, KnobSpec
from .layers import LayerPlan, plan_layers
from .marker import MARKER
from .requests import RANGE_MODES, choose_frames

__all__ = ["PROPAGATE_MARKER", "PROPAGATE_KNOBS", "PROPAGATE_HELP", "KEYFRAME", "KEYFRAME_LAYERS", "PropagateRequest",
           "parse_keyframes", "propagate_request", "keyframe_image", "keyframed_source"]

PROPAGATE_MARKER = "framebridge_propagate"
KEYFRAME = "keyframe"
KEYFRAME_LAYERS = LayerPlan(buffers=(passes.BEAUTY,), layers=("rgba",))
SEND_PROPAGATE = "from framebridge.nuke_plugin.host import propagate; propagate.send_propagate(nuke.thisNode())"
PROPAGATE_HELP = (
    "FrameBridge Propagate: carries painted keyframes through the shot along its motion vectors.\n"
    "Input 0: the shot (rgba, with forward/backward motion, depth and object ids where it has them). Input 1: the "
    "painted keyframes, e.g. a RotoPaint over FrameHolds. List the painted frames in 'keyframes' (1001 1024 1048); "
    "Send reads input 1 at those frames, sends the shot under Nuke's progress bar (Cancel stops the server job) and "
    "shows the result: a Read beside this node with the rgba and a 'confidence' layer (red: trust 0..1, green: "
    "frames to the nearest keyframe, blue: the share filled by synthesis). Shuffle confidence into rgba to see where "
    "the next keyframe should go."
)

PROPAGATE_KNOBS: tuple[KnobSpec, ...] = (
    KnobSpec("tab", "propagate_tab", "Propagate"),
    KnobSpec("text", MARKER, "", "FrameBridge Propagate"),
    KnobSpec("text", PROPAGATE_MARKER, "", "input 0: the shot; input 1: the painted keyframes"),
    KnobSpec("text", "status", "status", "not sent yet"),
    KnobSpec("enum", "show", "show", "input", SHOW_CHOICES,
             "input: pass the shot through; result: the last result's Read (wired into this node's third input)"),
    KnobSpec("string", "keyframes", "keyframes", "",
             tooltip="the frames painted on input 1, e.g. 1001 1024 1048 (spaces or commas)"),
    KnobSpec("enum", "range_mode", "frame range", "input", RANGE_MODES, tooltip="input: the shot's frame range; custom: the frames knob"),
    KnobSpec("string", "frames", "frames", "1-10", new_line=False, tooltip="a contiguous range, e.g. 1001-1100"),
    KnobSpec("string", "view", "view", "", tooltip="the view to send from a stereo script; empty: the script's first view"),
    KnobSpec("double", "halflife", "trust halflife (frames)", 12.0,
             tooltip="a keyframe's trust halves every this many frames away from it"),
    KnobSpec("double", "depth_tolerance", "depth tolerance", 0.05, new_line=False,
             tooltip="relative depth change that counts as an occlusion"),
    KnobSpec("bool", "optical_flow", "optical flow where there are no vectors", True,
             tooltip="estimate motion for frames without forward/backward layers (off: such frames are an error)"),
    KnobSpec("file", "output_folder", "output folder", "",
             tooltip="empty: framebridge/<node>_propagate next to the script; each send writes a new v001, v002, ... inside"),
    KnobSpec("button", "send", "Send", SEND_PROPAGATE, tooltip="read the keyframes, send the shot and show the result"),
    KnobSpec("button", "test_connection", "Test Connection", TEST_COMMAND, new_line=False,
             tooltip="ask the server for its version and ops, without freezing Nuke"),
    *SERVER_KNOBS,
)

_SEPARATORS = re.compile(r"[\s,]+")
_EXAMPLE = "type the painted frames, e.g. 1001 1024 1048"


@dataclass(frozen=True)
class PropagateRequest:
    """One propagate job: the shot's frames and layers, the keyframes, params, where results go and which server."""

    frames: tuple[int, ...]
    keyframes: tuple[int, ...]
    params: dict[str, Any]
    shot: dict[str, Any]
    layers: LayerPlan
    output_folder: str
    connection: ConnectionSettings
    view: str = "main"
    op: str = "propagate"

    @property
    def working_space(self) -> str | None:
        """The script's working space when it is not plain linear: keyframes and results stay in it."""
        return (self.shot.get("colour") or {}).get("working_space")


def parse_keyframes(text: str) -> list[int]:
    """The keyframe list knob's frame numbers, ascending; none, a word or a repeated frame is an error."""
    words = [word for word in _SEPARATORS.split(str(text).strip()) if word]
    if not words:
        raise InvalidParams("no keyframes are listed", fix=_EXAMPLE)
    numbers = []
    for word in words:
        try:
            numbers.append(int(word))
        except ValueError:
            raise InvalidParams(f"keyframe {word!r} is not a frame number", fix=_EXAMPLE) from None
    repeated = sorted({number for number in numbers if numbers.count(number) > 1})
    if repeated:
        raise InvalidParams(f"keyframe{'s' if len(repeated) > 1 else ''} {', '.join(map(str, repeated))} "
                            f"listed more than once", fix="list each painted frame once")
    return sorted(numbers)


def _number(values: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    number = float(values.get(name, default))
    if not (math.isfinite(number) and low <= number <= high):
        raise InvalidParams(f"{name.replace('_', ' ')} must be between {low:g} and {high:g}, got {number:g}")
    return number


def propagate_request(values: Mapping[str, Any], *, shot_first: int, shot_last: int, keyframes_first: int,
                      keyframes_last: int, channels: Iterable[str], shot_size: tuple[int, int],
                      keyframes_size: tuple[int, int], fps: float, script_path: str = "",
                      node_name: str = "FrameBridgePropagate", colour: Mapping[str, str] | None = None,
                      view: str = "main") -> PropagateRequest:
    """A checked request from the node's knob values and facts about its two inputs (ranges, layers, sizes)."""
    frames = choose_frames(str(values.get("range_mode", "input")), shot_first, shot_last, str(values.get("frames", "")))
    if frames != list(range(frames[0], frames[0] + len(frames))):
        raise InvalidParams(f"propagate needs one contiguous frame range, got {values.get('frames')!r}",
                            fix="e.g. 1001-1100: the motion links consecutive frames")
    keyframes = parse_keyframes(str(values.get("keyframes", "")))
    outside = [number for number in keyframes if not frames[0] <= number <= frames[-1]]
    if outside:
        raise InvalidParams(f"keyframes {', '.join(map(str, outside))} are outside the frames sent ({frames[0]}-{frames[-1]})",
                            fix="list frames inside the range, or widen the frame range")
    missing = [number for number in keyframes if not keyframes_first <= number <= keyframes_last]
    if missing:
        raise MissingInput(f"input 1 (keyframes) has no image at frame{'s' if len(missing) > 1 else ''} "
                           f"{', '.join(map(str, missing))}: its frames are {keyframes_first}-{keyframes_last}",
                           fix="paint or hold those frames on input 1, or take them off the keyframe list")
    if tuple(keyframes_size) != tuple(shot_size):
        raise ShapeMismatch(f"the keyframes (input 1) are {keyframes_size[0]}x{keyframes_size[1]}, "
                            f"the shot (input 0) is {shot_size[0]}x{shot_size[1]}",
                            fix="paint the keyframes over the shot's own format (Reformat input 1 to it)")
    params = {
        "keyframes": keyframes,
        "halflife": _number(values, "halflife", 12.0, 0.5, 10000.0),
        "depth_tolerance": _number(values, "depth_tolerance", 0.05, 0.0, 10.0),
        "optical_flow": bool(values.get("optical_flow", True)),
    }
    output = str(values.get("output_folder", "")).strip() or default_output_folder(script_path, node_name, "propagate")
    shot: dict[str, Any] = {"fps": float(fps), "resolution": [int(shot_size[0]), int(shot_size[1])],
                            "frame_range": [frames[0], frames[-1]]}
    if colour:
        shot["colour"] = dict(colour)
    return PropagateRequest(tuple(frames), tuple(keyframes), params, shot, plan_layers("propagate", (), True, channels),
                            output, connection_settings(values), view)


def keyframe_image(buffers: Mapping[str, np.ndarray], number: int) -> np.ndarray:
    """The painted image of keyframe ``number`` as captured from input 1; an empty (all zero) capture is an error."""
    image = buffers.get(passes.BEAUTY)
    if image is None or not np.any(image):
        raise MissingInput(f"input 1 (keyframes) has no image at frame {number}: it renders "
                           f"{'no rgba' if image is None else 'black with zero alpha'} there",
                           fix="paint or hold that frame on input 1, or take it off the keyframe list")
    return image


def keyframed_source(shot: Callable[[int], Mapping[str, np.ndarray]], keyframes: Mapping[int, np.ndarray]
                     ) -> Callable[[int], dict[str, np.ndarray]]:
    """Frame n's shot buffers, plus its painted image as ``keyframe`` when n is a keyframe."""

    def source(number: int) -> dict[str, np.ndarray]:
        buffers = dict(shot(number))
        if number in keyframes:
            buffers[KEYFRAME] = keyframes[number]
        return buffers

    return source
