"""Op params and the frames to send, from the FrameBridge node's knob values.

Animated knobs are sampled by the host layer on every frame of the range (so
Nuke's own curves and expressions are honoured) and collapsed by
:func:`framebridge.protocol.frames.collapse_keyframes` into a scalar or the op's
keyframes; frame range text is read by :func:`framebridge.protocol.frames.parse_frames`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from framebridge.protocol.errors import InvalidParams
from framebridge.protocol.frames import collapse_keyframes, frame_range, parse_extra_params, parse_frames

__all__ = [
    "OPS",
    "CONDITIONS",
    "LOOKS",
    "PALETTES",
    "RANGE_MODES",
    "NORMAL_SPACES",
    "BridgeSettings",
    "choose_frames",
    "conditions_from_knobs",
    "settings_from_knobs",
    "build_params",
    "knob_states",
]

OPS = ("restyle", "extract", "echo")
CONDITIONS = ("depth", "normal", "segmentation", "canny", "lineart", "pose")
LOOKS = ("auto", "toon", "paint", "sketch")
PALETTES = ("none", "gameboy", "noir", "pastel", "sepia", "sunset", "teal_orange")
RANGE_MODES = ("input", "custom")
NORMAL_SPACES = ("camera", "world")


def choose_frames(mode: str, input_first: int, input_last: int, custom: str) -> list[int]:
    """The frames to send: the input node's range, or the custom range text."""
    if mode == "input":
        return frame_range(int(input_first), int(input_last))
    if mode == "custom":
        return parse_frames(custom)
    raise InvalidParams(f"unknown frame range mode {mode!r}", details={"allowed": list(RANGE_MODES)})


def _collapse(value: Any, kind: type) -> Any:
    """Per-frame samples collapsed, each value cast to ``kind`` (Nuke returns floats for every number)."""
    if isinstance(value, Mapping):
        return collapse_keyframes({int(frame): kind(sample) for frame, sample in value.items()})
    return kind(value)


def conditions_from_knobs(values: Mapping[str, Any]) -> dict[str, float]:
    """``{condition: weight}`` for each ``cond_<name>`` checkbox that is on (weight from ``cond_<name>_weight``)."""
    chosen = {}
    for name in CONDITIONS:
        if values.get(f"cond_{name}"):
            chosen[name] = float(values.get(f"cond_{name}_weight", 1.0))
    return chosen


@dataclass
class BridgeSettings:
    """What one FrameBridge node asks for; numbers may be per-frame samples ``{frame: value}``."""

    op: str = "restyle"
    backend: str = ""  # empty: the op's default (restyle: cpu)
    prompt: str = ""
    negative_prompt: str = ""
    strength: Any = 0.6
    seed: Any = 0
    temporal: bool = True
    temporal_strength: Any = 0.8
    conditions: dict[str, float] = field(default_factory=dict)
    look: str = "auto"
    palette: str = "none"
    normal_space: str = "camera"
    depth_is_inverse: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def settings_from_knobs(values: Mapping[str, Any]) -> BridgeSettings:
    """The node's knob values (animated ones already sampled) as settings, checked."""
    op = str(values.get("op", "restyle"))
    if op not in OPS:
        raise InvalidParams(f"unknown op {op!r}", details={"allowed": list(OPS)})
    for name, allowed in (("look", LOOKS), ("palette", PALETTES), ("normal_space", NORMAL_SPACES)):
        if name in values and values[name] not in allowed:
            raise InvalidParams(f"{name} {values[name]!r} is not one of {', '.join(allowed)}")
    return BridgeSettings(
        op=op,
        backend=str(values.get("backend", "")).strip(),
        prompt=str(values.get("prompt", "")),
        negative_prompt=str(values.get("negative_prompt", "")),
        strength=_collapse(values.get("strength", 0.6), float),
        seed=_collapse(values.get("seed", 0), lambda value: int(round(float(value)))),
        temporal=bool(values.get("temporal", True)),
        temporal_strength=_collapse(values.get("temporal_strength", 0.8), float),
        conditions=conditions_from_knobs(values),
        look=str(values.get("look", "auto")),
        palette=str(values.get("palette", "none")),
        normal_space=str(values.get("normal_space", "camera")),
        depth_is_inverse=bool(values.get("depth_is_inverse", False)),
        extra=parse_extra_params(str(values.get("extra_params", ""))),
    )


def build_params(settings: BridgeSettings) -> dict[str, Any]:
    """The op's params: everything the op takes from the node, then the extra JSON params on top."""
    if settings.op == "restyle":
        params: dict[str, Any] = {
            "prompt": settings.prompt,
            "negative_prompt": settings.negative_prompt,
            "strength": settings.strength,
            "seed": settings.seed,
            "conditions": dict(settings.conditions),
            "temporal": settings.temporal,
        }
        if settings.temporal:
            params["temporal_strength"] = settings.temporal_strength
        if settings.backend in ("", "cpu"):
            params["look"] = settings.look
            params["palette"] = settings.palette
    elif settings.op == "extract":
        if not settings.conditions:
            raise InvalidParams("extract needs at least one condition", details={"allowed": list(CONDITIONS)},
                                fix="tick the conditions to extract on the FrameBridge node")
        params = {"conditions": sorted(settings.conditions), "normal_space": settings.normal_space}
    else:
        params = {}
    params.update(settings.extra)
    return params


def knob_states(values: Mapping[str, Any]) -> dict[str, bool]:
    """Which of the node's knobs are enabled for its current values (others are greyed out)."""
    op = values.get("op", "restyle")
    restyle = op == "restyle"
    states = {
        "prompt": restyle,
        "negative_prompt": restyle,
        "strength": restyle,
        "seed": restyle,
        "temporal": restyle,
        "temporal_strength": restyle and bool(values.get("temporal", True)),
        "look": restyle,
        "palette": restyle,
        "normal_space": op == "extract",
        "frames": values.get("range_mode", "input") == "custom",
    }
    for name in CONDITIONS:
        states[f"cond_{name}"] = op != "echo"
        states[f"cond_{name}_weight"] = restyle and bool(values.get(f"cond_{name}"))
    return states
