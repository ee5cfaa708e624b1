"""Op params from the panel's values.

Animated panel values are sampled by Blender on every frame of the range (so its
own interpolation, easing and drivers are honoured) and collapsed by
:func:`framebridge.protocol.frames.collapse_keyframes` into a scalar or the op's
keyframes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from framebridge.protocol import passes as canonical
from framebridge.protocol.errors import InvalidParams
from framebridge.protocol.frames import collapse_keyframes

from .passes import CONDITIONS

__all__ = ["ShotSettings", "prompt_schedule", "build_params", "fit_to_op", "shot_with_depth_range"]


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


def shot_with_depth_range(shot: Mapping[str, Any], depths: Iterable[Any]) -> dict[str, Any]:
    """The shot plus ``depth_range``: the foreground depth over every frame's depth pass.

    The add-on has rendered every frame before it submits, so the server can
    normalise the depth condition over the whole shot instead of the first frame.
    The shot is unchanged when no frame has foreground depth.
    """
    shot = dict(shot)
    depth_range = canonical.shot_depth_range(depths)
    if depth_range is not None:
        shot["depth_range"] = depth_range
    return shot
