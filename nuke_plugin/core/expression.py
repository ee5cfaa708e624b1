"""The FrameBridge Expression node as data: its knobs, the request it sends, and the tracks that come back.

Two inputs: the plate (input 0, whose face moves) and the driver (input 1, the
performance). Target frame n is paired with driver frame n + ``driving_offset``;
the driver's ``reference_frame`` (its neutral face) travels once as the job buffer
``reference``. The result's meta carries the target's landmarks per frame; they come
back as a CornerPin2D whose ``to1..to4`` follow the outer eye corners and the mouth
corners, in Nuke's coordinates (pixel centres at +0.5, y up from the bottom).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from framebridge.protocol.errors import InvalidParams

from .knobs import SERVER_KNOBS, KnobSpec, TEST_COMMAND
from .requests import RANGE_MODES

__all__ = ["EXPRESSION_MARKER", "EXPRESSION_KNOBS", "EXPRESSION_VALUE_KNOBS", "REGIONS", "CORNER_LANDMARKS",
           "ExpressionRequest", "expression_request", "paired_source", "corner_tracks", "to_nuke"]

EXPRESSION_MARKER = "framebridge_expression"
SEND_EXPRESSION = "from framebridge.nuke_plugin.host import expression; expression.send_expression(nuke.thisNode())"
REGIONS = ("expression", "eyes", "lips", "pose")
# Outer corner of the subject's right eye, of the left eye, left and right mouth corners (dlib order):
# to1..to4 go round the face clockwise on screen.
CORNER_LANDMARKS = (36, 45, 54, 48)


def _region_knobs() -> list[KnobSpec]:
    specs = []
    for region in REGIONS:
        specs.append(KnobSpec("bool", f"region_{region}", region, True, tooltip=f"move the {region}"))
        specs.append(KnobSpec("double", f"multiplier_{region}", "x", 1.0, new_line=False,
                              tooltip="1 copies the driver, 0.5 half of it, 2 exaggerates"))
    return specs


EXPRESSION_KNOBS: tuple[KnobSpec, ...] = (
    KnobSpec("tab", "expression_tab", "Expression"),
    KnobSpec("text", EXPRESSION_MARKER, "", "FrameBridge Expression: input 0 plate, input 1 driver"),
    KnobSpec("string", "backend", "backend", "", tooltip="empty: cpu (landmark warp); liveportrait with its checkpoints"),
    *_region_knobs(),
    KnobSpec("bool", "relative", "relative to the reference", True,
             tooltip="move by the driver's change since its reference frame (off: take its face shape as it is)"),
    KnobSpec("int", "reference_frame", "driver reference frame", 1, tooltip="the driver's neutral frame"),
    KnobSpec("int", "driving_offset", "driver offset", 0, new_line=False,
             tooltip="plate frame n is paired with driver frame n + offset"),
    KnobSpec("double", "smoothing", "smoothing", 0.5, tooltip="temporal smoothing of the landmarks, 0..1"),
    KnobSpec("double", "feather", "feather", 0.1, new_line=False, tooltip="matte edge, as a fraction of the face size"),
    KnobSpec("enum", "face", "face", "largest", ("largest", "point")),
    KnobSpec("double", "face_x", "x", 0.0, new_line=False, tooltip="with face = point: a pixel on the face (Nuke x)"),
    KnobSpec("double", "face_y", "y", 0.0, new_line=False, tooltip="with face = point: a pixel on the face (Nuke y, up)"),
    KnobSpec("enum", "range_mode", "frame range", "input", RANGE_MODES),
    KnobSpec("string", "frames", "frames", "1-10", new_line=False, tooltip="e.g. 1001-1100"),
    KnobSpec("file", "output_folder", "output folder", "", tooltip="empty: framebridge/<node>_expression next to the script"),
    KnobSpec("button", "send", "Send", SEND_EXPRESSION),
    KnobSpec("button", "test_connection", "Test Connection", TEST_COMMAND, new_line=False),
    *SERVER_KNOBS,
)

EXPRESSION_VALUE_KNOBS: tuple[str, ...] = tuple(spec.name for spec in EXPRESSION_KNOBS
                                                if spec.kind not in ("tab", "text", "button"))


@dataclass(frozen=True)
class ExpressionRequest:
    params: dict[str, Any]
    driver_frames: tuple[int, ...]  # every driver frame to capture: the paired ones and the reference
    reference_frame: int
    driving_offset: int


def _finite(name: str, value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise InvalidParams(f"{name} must be a finite number, got {value}", details={"param": name})
    return number


def expression_request(values: Mapping[str, Any], frames: list[int], height: int,
                       driver_first: int, driver_last: int) -> ExpressionRequest:
    """The op params and driver frames for knob ``values`` over plate ``frames`` of a plate ``height`` pixels tall."""
    regions = [region for region in REGIONS if values.get(f"region_{region}")]
    if not regions:
        raise InvalidParams("no region is ticked: nothing would move", fix="tick expression, eyes, lips or pose")
    offset = int(values.get("driving_offset", 0))
    reference = int(values.get("reference_frame", driver_first))
    paired = [number + offset for number in frames]
    outside = [number for number in paired + [reference] if not driver_first <= number <= driver_last]
    if outside:
        raise InvalidParams(f"the driver (frames {driver_first}-{driver_last}) lacks frames {sorted(set(outside))[:10]} "
                            f"for plate frames {frames[0]}-{frames[-1]} with offset {offset}",
                            fix="change the driver offset or reference frame, or the plate's frame range")
    params: dict[str, Any] = {
        "regions": regions,
        "multipliers": {region: _finite(f"multiplier_{region}", values.get(f"multiplier_{region}", 1.0)) for region in regions},
        "relative": bool(values.get("relative", True)),
        "smoothing": _finite("smoothing", values.get("smoothing", 0.5)),
        "feather": _finite("feather", values.get("feather", 0.1)),
        "driving_offset": offset,
        "driving_range": [driver_first, driver_last],
    }
    if values.get("face") == "point":
        # Nuke's y is up from the bottom; the server's is down from the top.
        params["face"] = [_finite("face_x", values.get("face_x", 0.0)) - 0.5,
                          height - _finite("face_y", values.get("face_y", 0.0)) - 0.5]
    return ExpressionRequest(params, tuple(sorted(set(paired + [reference]))), reference, offset)


def paired_source(plate: Callable[[int], Mapping[str, np.ndarray]], driver: Callable[[int], Mapping[str, np.ndarray]],
                  offset: int) -> Callable[[int], dict[str, np.ndarray]]:
    """Frame n's buffers: the plate's beauty, and the driver's frame n + offset as ``driving``."""

    def source(number: int) -> dict[str, np.ndarray]:
        return {"beauty": plate(number)["beauty"], "driving": driver(number + offset)["beauty"]}

    return source


def to_nuke(points: np.ndarray, height: int) -> np.ndarray:
    """Pixel positions (x right, y down, pixel centres at integers) to Nuke's (centres at +0.5, y up)."""
    points = np.asarray(points, np.float64)
    return np.stack([points[:, 0] + 0.5, height - (points[:, 1] + 0.5)], axis=1)


def corner_tracks(metas: Mapping[int, Mapping[str, Any]], height: int) -> dict[int, list[tuple[float, float]]]:
    """Per frame with a face, the four corner landmarks (to1..to4) in Nuke's coordinates."""
    tracks = {}
    for number, meta in sorted(metas.items()):
        landmarks = meta.get("target_landmarks")
        if not meta.get("face") or not landmarks:
            continue
        corners = to_nuke(np.asarray(landmarks)[list(CORNER_LANDMARKS)], height)
        tracks[number] = [(float(x), float(y)) for x, y in corners]
    return tracks
