"""The ``expression`` op's params: parsed, checked and explained before any frame moves."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from framebridge.protocol.errors import InvalidParams

from .backend import REGION_NAMES, Motion

__all__ = ["ExpressionParams", "PARAMS", "parse_params", "pair_driving"]

RETARGETABLE = ("eyes", "lips")
LOOK_AHEAD = 64  # frames the op may read ahead to reach a reference driving frame that is not the first

PARAMS: dict[str, dict[str, Any]] = {
    "regions": {"type": "str | list[str]", "default": "all", "allowed": [*REGION_NAMES, "all"]},
    "multipliers": {"type": "dict[str, float]", "default": {}, "min": -5.0, "max": 5.0,
                    "help": "per region; 1 copies the driver, 0.5 half of its motion, 2 exaggerates it"},
    "relative": {"type": "bool", "default": True,
                 "help": "move by the driver's change since the reference frame (else take its face shape as it is)"},
    "reference_frame": {"type": "int", "default": None,
                        "help": "the driving clip's neutral frame (default its first; a job buffer 'reference' overrides)"},
    "driving_offset": {"type": "int", "default": 0, "help": "target frame n is paired with driving frame n + offset"},
    "driving_range": {"type": "[int, int]", "default": None, "help": "the driving clip's first and last frame, checked"},
    "smoothing": {"type": "float", "default": 0.5, "min": 0.0, "max": 1.0, "help": "temporal smoothing of landmarks"},
    "face": {"type": "str | [float, float]", "default": "largest", "allowed": ["largest"], "units": "px",
             "help": "which target face: the largest, or the one under this pixel (x right, y down) of the first frame"},
    "feather": {"type": "float", "default": 0.1, "min": 0.0, "max": 1.0, "help": "paste-back edge, fraction of the face size"},
    "cache": {"type": "bool", "default": True},
    "retarget": {"type": "list[str]", "default": [], "allowed": list(RETARGETABLE),
                 "help": "liveportrait backend: move these regions by the driver's eye/lip open ratios through its retargeting models"},
}


@dataclass(frozen=True)
class ExpressionParams:
    motion: Motion
    reference_frame: int | None
    driving_offset: int
    driving_range: tuple[int, int] | None
    smoothing: float
    face_point: tuple[float, float] | None
    feather: float
    cache: bool

    def fingerprint(self) -> dict[str, Any]:
        """What a frame's result depends on among the params (pairing and reference enter through their images)."""
        return {"regions": sorted(self.motion.regions), "multipliers": dict(sorted(self.motion.multipliers.items())),
                "relative": self.motion.relative, "feather": self.feather, "retarget": sorted(self.motion.retarget)}


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParams(f"{name} must be a number, not {type(value).__name__}", details={"param": name})
    if not math.isfinite(value):
        raise InvalidParams(f"{name} must be a finite number, got {value}", details={"param": name})
    if not low <= value <= high:
        raise InvalidParams(f"{name} must be within {low:g}..{high:g}, got {value}", details={"param": name})
    return float(value)


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParams(f"{name} must be a whole frame number, not {value!r}", details={"param": name})
    return value


def _regions(value: Any) -> frozenset[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(name, str) for name in names):
        raise InvalidParams("regions must be a region name or a non-empty list of them",
                            details={"param": "regions", "allowed": [*REGION_NAMES, "all"]})
    unknown = sorted(set(names) - set(REGION_NAMES) - {"all"})
    if unknown:
        raise InvalidParams(f"unknown regions {unknown}", details={"param": "regions", "allowed": [*REGION_NAMES, "all"]})
    return frozenset(REGION_NAMES) if "all" in names else frozenset(names)


def _multipliers(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise InvalidParams("multipliers must be {region: number}", details={"param": "multipliers"})
    unknown = sorted(set(value) - set(REGION_NAMES))
    if unknown:
        raise InvalidParams(f"multipliers name unknown regions {unknown}",
                            details={"param": "multipliers", "allowed": list(REGION_NAMES)})
    return {region: _number(f"multipliers[{region!r}]", factor, -5.0, 5.0) for region, factor in value.items()}


def _retarget(value: Any, regions: frozenset[str]) -> frozenset[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(name, str) for name in value):
        raise InvalidParams("retarget must be a list of region names", details={"param": "retarget", "allowed": list(RETARGETABLE)})
    unknown = sorted(set(value) - set(RETARGETABLE))
    if unknown:
        raise InvalidParams(f"retarget names {unknown}; only {list(RETARGETABLE)} can be retargeted",
                            details={"param": "retarget", "allowed": list(RETARGETABLE)})
    still = sorted(set(value) - regions)
    if still:
        raise InvalidParams(f"retarget names {still}, which regions does not move", details={"param": "retarget"})
    return frozenset(value)


def _face_point(value: Any) -> tuple[float, float] | None:
    if value == "largest":
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (_number("face[0]", value[0], -1e6, 1e6), _number("face[1]", value[1], -1e6, 1e6))
    raise InvalidParams("face must be 'largest' or a point [x, y] in pixels", details={"param": "face"})


def parse_params(params: Mapping[str, Any]) -> ExpressionParams:
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise InvalidParams(f"unknown expression params {unknown}", details={"allowed": sorted(PARAMS)})
    relative, cache = params.get("relative", True), params.get("cache", True)
    for name, value in (("relative", relative), ("cache", cache)):
        if not isinstance(value, bool):
            raise InvalidParams(f"{name} must be true or false", details={"param": name})
    reference = params.get("reference_frame")
    driving_range = params.get("driving_range")
    if driving_range is not None:
        if not isinstance(driving_range, (list, tuple)) or len(driving_range) != 2:
            raise InvalidParams("driving_range must be [first, last]", details={"param": "driving_range"})
        driving_range = (_integer("driving_range", driving_range[0]), _integer("driving_range", driving_range[1]))
        if driving_range[1] < driving_range[0]:
            raise InvalidParams(f"driving_range {list(driving_range)} ends before it starts", details={"param": "driving_range"})
    regions = _regions(params.get("regions", "all"))
    return ExpressionParams(
        motion=Motion(regions=regions, multipliers=_multipliers(params.get("multipliers", {})), relative=relative,
                      retarget=_retarget(params.get("retarget", []), regions)),
        reference_frame=None if reference is None else _integer("reference_frame", reference),
        driving_offset=_integer("driving_offset", params.get("driving_offset", 0)),
        driving_range=driving_range,
        smoothing=_number("smoothing", params.get("smoothing", 0.5), 0.0, 1.0),
        face_point=_face_point(params.get("face", "largest")),
        feather=_number("feather", params.get("feather", 0.1), 0.0, 1.0),
        cache=cache,
    )


def pair_driving(params: ExpressionParams, frames: list[int], offset_given: bool, has_reference_buffer: bool) -> int | None:
    """Check the pairing of target and driving frames; return the target frame whose driver is the reference.

    None when the reference comes as a job buffer. Raises InvalidParams for a driver shorter than the
    target range, different counts without an explicit offset, and a reference the job never sends.
    """
    offset = params.driving_offset
    if params.driving_range is not None:
        first, last = params.driving_range
        needed = [number + offset for number in frames]
        if len(frames) != last - first + 1 and not offset_given:
            raise InvalidParams(
                f"the driving clip has {last - first + 1} frames ({first}-{last}) and the target {len(frames)}: "
                "say how they pair", fix="give driving_offset (0 pairs equal frame numbers), or trim one of them",
                details={"param": "driving_offset", "driving_range": [first, last], "frames": len(frames)})
        outside = [number for number in needed if not first <= number <= last]
        if outside:
            raise InvalidParams(
                f"the driving clip ({first}-{last}) is shorter than the target range: target frames "
                f"{frames[0]}-{frames[-1]} with offset {offset} need driving frames {min(needed)}-{max(needed)}",
                fix="shorten the frame range, change driving_offset, or use a longer driving clip",
                details={"param": "driving_range", "missing": outside[:20]})
    if has_reference_buffer:
        return None
    if params.reference_frame is None:
        reference = params.driving_range[0] if params.driving_range is not None else frames[0] + offset
    else:
        reference = params.reference_frame
    paired = reference - offset
    if paired not in frames or frames.index(paired) > LOOK_AHEAD:
        raise InvalidParams(f"the reference driving frame {reference} is not paired with a target frame near the start "
                            "of this job", fix="send that driving frame as the job buffer 'reference'",
                            details={"param": "reference_frame"})
    return paired
