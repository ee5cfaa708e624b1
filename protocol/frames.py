"""Frame lists and per-frame values as people type them into Blender, Nuke and ``framebridge run``.

Animated values are sampled by the host on every frame (so its own curves,
easing and expressions are honoured) and handed here as ``{frame: value}``; a
value that never changes travels as a plain scalar, one that does as the op's
keyframes ``{"frame": value}`` (string keys: the wire's msgpack maps take string
keys only).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Mapping

from .errors import InvalidParams

__all__ = ["frame_range", "parse_frames", "collapse_keyframes", "parse_extra_params"]

_ITEM = re.compile(r"(-?\d+)(?:-(-?\d+)(?:[:x](\d+))?)?")
_SPACED_DASH = re.compile(r"(\d)\s*-\s*")
_SPACED_STEP = re.compile(r"\s*([:x])\s*")
_SEPARATOR = re.compile(r"\s*,\s*|\s+")
_EXAMPLES = "'1-3', '7', '10-20x5' or '10-20:5', separated by commas or spaces"


def frame_range(start: int, end: int, step: int = 1) -> list[int]:
    """Inclusive frame numbers from ``start`` to ``end``, as a host's frame range means them."""
    if step < 1:
        raise InvalidParams(f"frame step must be 1 or more, got {step}")
    if end < start:
        raise InvalidParams(f"frame range ends ({end}) before it starts ({start})")
    return list(range(start, end + 1, step))


def parse_frames(text: str) -> list[int]:
    """``"1-3,7 10-20x5"`` -> ``[1, 2, 3, 7, 10, 15, 20]``, in the order written.

    Items are separated by commas or spaces. A range is inclusive; its step is
    written ``xn`` (Nuke's and ``framebridge run``'s way) or ``:n`` (Blender's).
    Spaces around ``-``, ``x`` and ``:`` are allowed, so a dash right after a
    number always starts a range: ``"1 -3"`` is 1 to 3, ``"1, -3"`` two frames.
    A frame named twice (``"1-5,3"``) is refused rather than dropped, since an
    overlap is most likely a typo, and empty text is refused too.
    """
    items = _SEPARATOR.split(_SPACED_STEP.sub(r"\1", _SPACED_DASH.sub(r"\1-", text.strip())))
    if items == [""]:
        raise InvalidParams("the frame range is empty", fix=f"write frames like {_EXAMPLES}")
    frames: list[int] = []
    for item in items:
        match = _ITEM.fullmatch(item)
        if not match:
            raise InvalidParams(f"frame range {text!r} is not like {_EXAMPLES}")
        first, last, step = match.groups()
        frames.extend(frame_range(int(first), int(last if last is not None else first), int(step or 1)))
    repeated = sorted(frame for frame, times in Counter(frames).items() if times > 1)
    if repeated:
        raise InvalidParams(f"frame range {text!r} repeats frames {repeated}; name each frame once",
                            details={"frames": repeated})
    return frames


def collapse_keyframes(samples: Mapping[int, Any]) -> Any:
    """A scalar when every sampled frame has the same value, else ``{"frame": value}``."""
    values = list(samples.values())
    if not values:
        raise InvalidParams("no frames were sampled")
    if all(value == values[0] for value in values):
        return values[0]
    return {str(frame): value for frame, value in sorted(samples.items(), key=lambda item: int(item[0]))}


def parse_extra_params(text: str) -> dict[str, Any]:
    """Extra op params from a plugin's JSON text field (empty text: none)."""
    if not text.strip():
        return {}
    try:
        extra = json.loads(text)
    except ValueError as error:
        raise InvalidParams(f"extra params are not valid JSON ({error})", fix='write them as {"name": value, ...}') from None
    if not isinstance(extra, dict):
        raise InvalidParams("extra params must be a JSON object of name -> value")
    return extra
