"""Op params from the panel's values, and frame lists.

Animated panel values are sampled by Blender on every frame of the range (so its
own interpolation, easing and drivers are honoured) and handed here as
``{frame: value}``; a value that never changes travels as a plain scalar, one that
does as the op's keyframes ``{"frame": value}`` (string keys: the wire's msgpack
maps take string keys only).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from framebridge.protocol.errors import InvalidParams

from .passes import CONDITIONS

__all__ = ["ShotSettings", "parse_frames", "parse_extra_params", "frame_range", "collapse_keyframes", "prompt_schedule", "build_params", "fit_to_op"]

_RANGE = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*(?::\s*(\d+)\s*)?)?$")


def parse_frames(text: str) -> list[int]:
    """``"1-3,7,10-20:5"`` -> ``[1, 2, 3, 7, 10, 15, 20]``: ranges are inclusive, ``:n`` is a step."""
    frames: list[int] = []
    for part in text.split(","):
        match = _RANGE.match(part)
        if not match:
            raise InvalidParams(f"frame range {text!r} is not like '1-3', '7' or '10-20:5'")
        first, last, step = match.groups()
        frames.extend(frame_range(int(first), int(last if last is not None else first), int(step or 1)))
    return list(dict.fromkeys(frames))


def frame_range(start: int, end: int, step: int = 1) -> list[int]:
    """Inclusive frame numbers from ``start`` to ``end``, as Blender's frame range means them."""
    if step < 1:
        raise InvalidParams(f"frame step must be 1 or more, got {step}")
    if end < start:
        raise InvalidParams(f"frame range ends ({end}) before it starts ({start})")
    return list(range(start, end + 1, step))


def collapse_keyframes(samples: Mapping[int, Any]) -> Any:
    """A scalar when every sampled frame has the same value, else ``{"frame": value}``."""
    values = list(samples.values())
    if not values:
        raise InvalidParams("no frames were sampled")
    if all(value == values[0] for value in values):
        return values[0]
    return {str(frame): value for frame, value in sorted(samples.items(), key=lambda item: int(item[0]))}


def prompt_schedule(frames: list[int], prompt: str, keys: Mapping[int, str]) -> dict[int, str]:
    """The prompt on each frame: the latest prompt key at or before it, else the base prompt."""
    ordered = sorted(keys.items())
    schedule = {}
    for frame in frames:
        current = prompt
        for key_frame, key_prompt in ordered:
            if key_frame > frame:
                break
            current = key_prompt
        schedule[frame] = current
    return schedule


@dataclass
class ShotSettings:
    """What the panel holds for one run; numbers may be per-frame samples ``{frame: value}``."""

    op: str = "restyle"
    backend: str = "cpu"
    prompt: Any = ""
    negative_prompt: Any = ""
    strength: Any = 0.5
    seed: Any = 0
    conditions: dict[str, float] = field(default_factory=dict)  # condition -> weight
    temporal: bool = True
    temporal_strength: Any = 0.5
    extra: dict[str, Any] = field(default_factory=dict)  # op or backend params the panel has no field for


def parse_extra_params(text: str) -> dict[str, Any]:
    """Extra op params from the panel's JSON text (empty text: none)."""
    if not text.strip():
        return {}
    try:
        extra = json.loads(text)
    except ValueError as error:
        raise InvalidParams(f"extra params are not valid JSON ({error})", fix='write them as {"name": value, ...}') from None
    if not isinstance(extra, dict):
        raise InvalidParams("extra params must be a JSON object of name -> value")
    return extra


def build_params(settings: ShotSettings) -> dict[str, Any]:
    """The op params for a shot: prompts, strength and seed (scalars or keyframes), conditions with weights."""
    unknown = sorted(set(settings.conditions) - set(CONDITIONS))
    if unknown:
        raise InvalidParams(f"unknown conditions {unknown}", details={"allowed": list(CONDITIONS)})
    params: dict[str, Any] = {
        "prompt": collapse_or_keep(settings.prompt),
        "negative_prompt": collapse_or_keep(settings.negative_prompt),
        "strength": collapse_or_keep(settings.strength),
        "seed": collapse_or_keep(settings.seed),
        "conditions": {name: float(weight) for name, weight in settings.conditions.items()},
        "temporal": bool(settings.temporal),
    }
    if settings.temporal:
        params["temporal_strength"] = collapse_or_keep(settings.temporal_strength)
    params.update(settings.extra)
    return params


def collapse_or_keep(value: Any) -> Any:
    """Collapse per-frame samples; pass scalars through."""
    return collapse_keyframes(value) if isinstance(value, Mapping) else value


def fit_to_op(params: dict[str, Any], description: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Keep only the params the op declares in its ``describe()``; return them and the names left out.

    Lets the same panel drive ``restyle``, ``extract`` or ``echo`` (for diagnostics):
    the server rejects unknown params, so the client sends only what the op takes.
    A ``{name: weight}`` map goes to a param declared as a list as its names.
    """
    declared = description.get("params", {})
    kept = {}
    for name, value in params.items():
        if name not in declared:
            continue
        kind = str(declared[name].get("type", "")) if isinstance(declared[name], Mapping) else ""
        kept[name] = list(value) if kind.startswith("list") and isinstance(value, Mapping) else value
    return kept, sorted(set(params) - set(kept))
