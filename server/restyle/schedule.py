"""Per-frame values of a shot: keyframed params and per-frame seeds.

A param is either one value for the whole shot or keyframes ``{"<frame>": value}``
(string keys: msgpack maps on the wire take strings). Numbers are interpolated
linearly between keys and held before the first and after the last; text and
integers (prompts, seeds) hold the latest key at or before the frame, and the
first key before it.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from dataclasses import dataclass
from typing import Any

from framebridge.protocol.errors import InvalidParams

__all__ = ["Keyframed", "frame_seed"]


def frame_seed(shot_seed: int, frame: int) -> int:
    """A 31-bit seed for one frame, stable across runs, machines and Python versions."""
    digest = hashlib.blake2b(f"{shot_seed}:{frame}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


@dataclass(frozen=True)
class Keyframed:
    """One param over the shot."""

    name: str
    frames: tuple[int, ...]
    values: tuple[Any, ...]
    interpolate: bool

    @classmethod
    def parse(cls, name: str, value: Any, kind: type | tuple[type, ...], frames: list[int], *,
              interpolate: bool, low: float | None = None, high: float | None = None) -> Keyframed:
        """Validate a scalar or keyframes against the type, the range and the submitted frames."""
        table = value if isinstance(value, dict) else {None: value}
        if not table:
            raise InvalidParams(f"{name} keyframes are empty")
        keys, values = [], []
        first, last = min(frames), max(frames)
        seen: set[int] = set()
        for key, item in table.items():
            if key is not None:
                try:
                    number = int(key)
                except (TypeError, ValueError):
                    raise InvalidParams(f"{name} keyframe {key!r} is not a frame number") from None
                if number in seen:
                    raise InvalidParams(f"{name} has two keyframes for frame {number}", details={"param": name, "frame": number})
                seen.add(number)
                if not first <= number <= last:
                    raise InvalidParams(f"{name} keyframe at frame {number} is outside the submitted frames {first}..{last}",
                                        details={"param": name, "frame": number})
                keys.append(number)
            if isinstance(item, bool) or not isinstance(item, kind):
                raise InvalidParams(f"{name} must be {_names(kind)}, not {type(item).__name__}", details={"param": name})
            if isinstance(item, float) and not math.isfinite(item):
                raise InvalidParams(f"{name} must be a finite number, got {item}", details={"param": name})
            if (low is not None and item < low) or (high is not None and item > high):
                raise InvalidParams(f"{name} must be within {low}..{high}, got {item}", details={"param": name})
            values.append(item)
        if not keys:
            return cls(name, (), (values[0],), interpolate)
        order = sorted(range(len(keys)), key=keys.__getitem__)
        return cls(name, tuple(keys[i] for i in order), tuple(values[i] for i in order), interpolate)

    def at(self, frame: int) -> Any:
        if not self.frames:
            return self.values[0]
        index = bisect.bisect_right(self.frames, frame) - 1
        if index < 0:
            return self.values[0]
        if not self.interpolate or index == len(self.frames) - 1:
            return self.values[index]
        start, end = self.frames[index], self.frames[index + 1]
        fraction = (frame - start) / (end - start)
        return self.values[index] + (self.values[index + 1] - self.values[index]) * fraction


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)
