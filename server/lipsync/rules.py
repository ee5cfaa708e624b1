"""Rhubarb Lip Sync's mouth shapes and animation rules: timed phones in, mouth cues at 1/100 s out, then per frame.

The steps follow Rhubarb's published behaviour. Each phone allows a set of shapes
(vowels one, most consonants several; diphthongs split 60/40; P and B get an A
closure of 0.04-0.12 s before their release; AH, AY, AW, ER and L depend on their
length). A forward pass picks from each set the shape closest to the last one,
and a backward pass lets a vowel's shape reach up to 0.20 s into the consonants
before it. Short segments are lengthened and flickering shapes under 0.07 s are
merged (closures are kept), short pauses hold or relax the mouth instead of
closing it, tweens go between distant shapes (D -> A through C), and shapes the
rig lacks fall back to their basic shape. The timeline is an array with one
entry per centisecond, so every step is a plain array edit.

Per frame, a frame shows the shape that covers most of it; a closure (A) too
short to win any frame wins the frame it overlaps most, so no P/B/M is lost at
24 fps. Shape weights for 3D blending average the shapes over a two-frame window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from framebridge.protocol.errors import InvalidParams

from .audio import FrameClock
from .phones import VOWELS, Phone

__all__ = ["SHAPES", "BASIC_SHAPES", "OPENNESS", "Cue", "animate", "check_extended", "frame_shapes",
           "frame_weights", "mouth_open", "shape_at"]

SHAPES = ("A", "B", "C", "D", "E", "F", "G", "H", "X")
BASIC_SHAPES = ("A", "B", "C", "D", "E", "F")
_INDEX = {shape: index for index, shape in enumerate(SHAPES)}
_BASIC = dict(zip(SHAPES, "ABCDEFACA"))
_RELAXED = dict(zip(SHAPES, "ABBCCBXBX"))
# From each shape, every shape in order of the effort it takes to get there.
_CLOSEST = {"A": "AXGBCHEDF", "B": "BGAXCHEDF", "C": "CHBGDAXEF", "D": "DCHBGAXEF", "E": "ECHBGAXDF",
            "F": "FBGAXCHED", "G": "GABCHXEDF", "H": "HCBGDAXEF", "X": "XAGBCHEDF"}
# In-betweens for distant shapes: the mouth pops open and closes through a middle shape.
_TWEENS = {("D", "A"): ("C", "early"), ("D", "B"): ("C", "centred"), ("D", "G"): ("C", "early"),
           ("D", "X"): ("C", "late"), ("C", "F"): ("E", "centred"), ("F", "C"): ("E", "centred"),
           ("D", "F"): ("E", "centred"), ("H", "F"): ("E", "late"), ("F", "H"): ("E", "early")}
OPENNESS = {"A": 0.0, "B": 0.15, "C": 0.55, "D": 1.0, "E": 0.45, "F": 0.25, "G": 0.1, "H": 0.5, "X": 0.0}

_ANY = frozenset(SHAPES)
_OPEN = frozenset("BCDEFGH")
_REST = frozenset("X")
_CLOSURE_MIN, _CLOSURE_MAX = 4, 12
_ANTICIPATION = 20
_MIN_SEGMENT, _MAX_EXTENSION, _MIN_SHAPE = 8, 6, 7
_HOLD_PAUSE, _RELAX_PAUSE = 12, 35
_TWEEN_MIN, _TWEEN_MAX = 4, 8


@dataclass(frozen=True)
class Cue:
    """A mouth shape from ``start`` to ``end``, in centiseconds from the start of the audio."""

    start: int
    end: int
    shape: str


def check_extended(extended: object) -> str:
    """The optional shapes a rig has (any of G, H, X), validated."""
    if not isinstance(extended, str) or not set(extended) <= set("GHX") or len(set(extended)) != len(extended):
        raise InvalidParams(f"extended_shapes must be some of 'GHX' (each once), not {extended!r}",
                            details={"param": "extended_shapes"})
    return "".join(shape for shape in "GHX" if shape in extended)


def _shape_sets(label: str, duration: int, previous: int) -> list[tuple[int, int, frozenset[str]]]:
    """The shape sets one phone allows, as (start, end, shapes) relative to the phone's start, in centiseconds."""

    def single(shapes: str):
        return [(0, duration, frozenset(shapes))]

    def diphthong(first: str, second: str):
        split = int(duration * 0.6)
        return [(0, split, frozenset(first)), (split, duration, frozenset(second))]

    def plosive(closure: frozenset[str], release: frozenset[str]):
        length = min(max(previous // 2, _CLOSURE_MIN), _CLOSURE_MAX)
        return [(-length, 0, closure), (0, duration, release)]

    vowels = {"AO": "E", "AA": "D", "IY": "B", "UW": "F", "EH": "C", "IH": "B", "UH": "F", "AE": "C"}
    if label in vowels:
        return single(vowels[label])
    if label == "AH":
        return single("C" if duration < 20 else "D")
    if label == "EY":
        return diphthong("C", "B")
    if label == "AY":
        return diphthong("C" if duration < 20 else "D", "B")
    if label == "OW":
        return diphthong("E", "F")
    if label == "AW":
        return diphthong("C" if duration < 30 else "D", "E")
    if label == "OY":
        return diphthong("E", "B")
    if label == "ER":
        return single("BC" if duration < 7 else "E")
    if label in ("P", "B"):
        return plosive(frozenset("A"), _ANY)
    if label in ("T", "D"):
        return plosive(frozenset("BF"), _OPEN)
    if label in ("K", "G"):
        return plosive(frozenset("BCEFH"), _OPEN)
    if label in ("F", "V"):
        return single("G")
    if label == "M":
        return single("A")
    if label == "HH":
        return [(0, duration, _ANY)]
    if label == "L":
        return single("BEFH" if duration < 20 else "H")
    consonants = {"CH": "BF", "JH": "BF", "TH": "BF", "DH": "BF", "S": "BF", "Z": "BF", "SH": "BF", "ZH": "BF",
                  "N": "BCFH", "NG": "BCEF", "R": "BEF", "Y": "BCF", "W": "F"}
    return single(consonants.get(label, "B"))


def _target(shape: str, extended: str) -> str:
    return shape if shape in BASIC_SHAPES or shape in extended else _BASIC[shape]


def _closest(reference: str, shapes: frozenset[str]) -> str:
    return next(shape for shape in _CLOSEST[reference] if shape in shapes)


def _runs(values: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, value) of each run of equal values."""
    if len(values) == 0:
        return []
    edges = np.flatnonzero(np.diff(values)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(values)]])
    return [(int(start), int(end), int(values[start])) for start, end in zip(starts, ends)]


def _rules(phones: Sequence[Phone], length: int, extended: str) -> tuple[np.ndarray, list[tuple[frozenset[str], str | None]]]:
    """Per centisecond, the index of the shape rule in force; rule 0 is rest."""
    rules: list[tuple[frozenset[str], str | None]] = [(_REST, None)]
    at = np.zeros(length, dtype=np.int32)
    previous_end, previous = 0, 0
    for phone in phones:
        start, end = min(round(phone.start * 100), length), min(round(phone.end * 100), length)
        if end <= start:
            continue
        if start > previous_end:
            previous = start - previous_end  # the pause before this phone
        for begin, finish, shapes in _shape_sets(phone.label, end - start, previous):
            allowed = frozenset(_target(shape, extended + "X") for shape in shapes)
            rules.append((allowed, phone.label))
            at[max(0, start + begin):max(0, min(length, start + finish))] = len(rules) - 1
        previous_end, previous = end, end - start
    return at, rules


def _rough(at: np.ndarray, rules: list[tuple[frozenset[str], str | None]]) -> np.ndarray:
    """Pick one shape per rule run: forward by least effort, backward from each single-shape vowel."""
    runs = _runs(at)
    chosen = ["X"] * len(runs)
    reference, last_anticipated = "X", -1
    for index, (start, _, rule) in enumerate(runs):
        shapes, label = rules[rule]
        shape = _closest(reference, shapes)
        chosen[index] = shape
        anticipate = label in VOWELS and len(shapes) == 1
        if anticipate:
            backward_reference = shape
            for earlier in range(index - 1, -1, -1):
                if runs[earlier][0] == last_anticipated or start - runs[earlier][0] > _ANTICIPATION:
                    break
                earlier_shape = _closest(backward_reference, rules[runs[earlier][2]][0])
                chosen[earlier] = earlier_shape
                if _BASIC[earlier_shape] != _BASIC[shape]:
                    break
                backward_reference = earlier_shape
            last_anticipated = start
        reference = shape if anticipate else _RELAXED[shape]
    animation = np.full(len(at), _INDEX["X"], dtype=np.int8)
    for (start, end, _), shape in zip(runs, chosen):
        animation[start:end] = _INDEX[shape]
    return animation


def _state(shape_index: int) -> int:
    """0 idle (X), 1 closed (A), 2 open."""
    shape = SHAPES[shape_index]
    return 0 if shape == "X" else 1 if shape == "A" else 2


def _retime(animation: np.ndarray) -> np.ndarray:
    """Lengthen short spoken segments into the pause before them, and merge flickering open shapes."""
    result = animation.copy()
    states = np.array([_state(value) for value in range(len(SHAPES))], dtype=np.int8)[animation]
    segments = _runs(states)
    for index, (start, end, state) in enumerate(segments):
        if state == 0 or end - start >= _MIN_SEGMENT or index == 0:
            continue
        before_start, before_end, before_state = segments[index - 1]
        if before_state != 0:
            continue
        extension = min(_MIN_SEGMENT - (end - start), _MAX_EXTENSION, before_end - before_start - 1)
        if extension > 0:
            result[start - extension:start] = animation[start]
    runs = _runs(result)
    merged: list[list[int]] = []
    for index, (start, end, value) in enumerate(runs):
        if end - start < _MIN_SHAPE and _state(value) == 2:
            after = runs[index + 1] if index + 1 < len(runs) else None
            into_before = bool(merged) and _state(merged[-1][2]) == 2
            into_after = after is not None and _state(after[2]) == 2
            if into_after and (not into_before or after[1] - after[0] > merged[-1][1] - merged[-1][0]):
                runs[index + 1] = (start, after[1], after[2])
                continue
            if into_before:
                merged[-1][1] = end
                continue
        if merged and merged[-1][2] == value:
            merged[-1][1] = end
        else:
            merged.append([start, end, value])
    for start, end, value in merged:
        result[start:end] = value
    return result


def _pauses(animation: np.ndarray) -> np.ndarray:
    """Pauses between spoken shapes: hold the shape when very short, relax it when short, else rest (X)."""
    result = animation.copy()
    runs = _runs(animation)
    for (_, _, before), (start, end, value), (_, _, after) in zip(runs, runs[1:], runs[2:]):
        if SHAPES[value] != "X":
            continue
        previous, following = SHAPES[before], SHAPES[after]
        if end - start < _HOLD_PAUSE:
            result[start:end] = _INDEX[previous]
        elif end - start <= _RELAX_PAUSE:
            shape = previous
            while True:
                relaxed = _RELAXED[shape]
                if relaxed != following or relaxed == shape:
                    break
                shape = relaxed
            result[start:end] = _INDEX[relaxed if relaxed != following else "X"]
    return result


def _tweens(animation: np.ndarray) -> np.ndarray:
    result = animation.copy()
    runs = _runs(animation)
    for (first_start, first_end, first), (second_start, second_end, second) in zip(runs, runs[1:]):
        tween = _TWEENS.get((SHAPES[first], SHAPES[second]))
        if tween is None:
            continue
        shape, timing = tween
        if timing == "early":
            length = min((first_end - first_start) // 3, _TWEEN_MAX)
            start = first_end - length
        elif timing == "centred":
            length = min((first_end - first_start) // 4, (second_end - second_start) // 4, _TWEEN_MAX)
            start = first_end - length // 2
        else:
            length = min((second_end - second_start) // 3, _TWEEN_MAX)
            start = second_start
        if length >= _TWEEN_MIN:
            result[start:start + length] = _INDEX[shape]
    return result


def animate(phones: Iterable[Phone], duration: float, extended: str = "GHX") -> list[Cue]:
    """Mouth cues covering ``duration`` seconds (truncated to 1/100 s) for timed phones, in Rhubarb's shape set."""
    extended = check_extended(extended)
    length = int(math.floor(duration * 100 + 1e-6))
    if length <= 0:
        return []
    at, rules = _rules(sorted(phones, key=lambda phone: phone.start), length, extended)
    animation = _tweens(_pauses(_retime(_rough(at, rules))))
    cues = [Cue(start, end, _target(SHAPES[value], extended)) for start, end, value in _runs(animation)]
    merged: list[Cue] = []
    for cue in cues:
        if merged and merged[-1].shape == cue.shape:
            merged[-1] = Cue(merged[-1].start, cue.end, cue.shape)
        else:
            merged.append(cue)
    return merged


def _timeline(cues: Sequence[Cue], length: int, rest: str) -> np.ndarray:
    timeline = np.full(length, _INDEX[rest], dtype=np.int8)
    for cue in cues:
        timeline[max(0, cue.start):max(0, min(length, cue.end))] = _INDEX[cue.shape]
    return timeline


def shape_at(cues: Sequence[Cue], seconds: float, extended: str = "GHX") -> str:
    """The shape at ``seconds`` into the audio (rest before and after the cues)."""
    centisecond = math.floor(seconds * 100)
    for cue in cues:
        if cue.start <= centisecond < cue.end:
            return cue.shape
    return _target("X", extended)


def _windows(clock: FrameClock, frames: Sequence[int], before: float, after: float) -> tuple[np.ndarray, np.ndarray]:
    starts = np.array([clock.time(frame - before) for frame in frames]) * 100.0
    ends = np.array([clock.time(frame + 1 + after) for frame in frames]) * 100.0
    return starts, ends


def _counts(timeline: np.ndarray, starts: np.ndarray, ends: np.ndarray, rest: str) -> np.ndarray:
    """Centiseconds of each shape inside each [start, end) window (outside the audio counts as rest)."""
    counts = np.zeros((len(starts), len(SHAPES)))
    for row, (start, end) in enumerate(zip(starts, ends)):
        first, last = math.floor(start), max(math.floor(start) + 1, math.ceil(end))
        inside = timeline[max(0, first):max(0, min(len(timeline), last))]
        counts[row] = np.bincount(inside, minlength=len(SHAPES))
        counts[row, _INDEX[rest]] += (last - first) - len(inside)
    return counts


def frame_shapes(cues: Sequence[Cue], clock: FrameClock, frames: Sequence[int], extended: str = "GHX") -> list[str]:
    """One shape per frame: the one covering most of the frame, with every closure (A) kept on some frame."""
    rest = _target("X", extended)
    length = max((cue.end for cue in cues), default=0)
    timeline = _timeline(cues, length, rest)
    starts, ends = _windows(clock, frames, 0.0, 0.0)
    counts = _counts(timeline, starts, ends, rest)
    shapes = [SHAPES[int(np.argmax(row))] for row in counts]
    for cue in cues:
        if cue.shape != "A":
            continue
        overlaps = np.minimum(ends, cue.end) - np.maximum(starts, cue.start)
        touched = np.flatnonzero(overlaps > 0)
        if len(touched) and not any(shapes[index] == "A" for index in touched):
            shapes[int(touched[np.argmax(overlaps[touched])])] = "A"
    return shapes


def frame_weights(cues: Sequence[Cue], clock: FrameClock, frames: Sequence[int], extended: str = "GHX") -> np.ndarray:
    """(frames, 9) float32 weights of A..H, X per frame over a two-frame window centred on it; rows sum to 1."""
    rest = _target("X", extended)
    length = max((cue.end for cue in cues), default=0)
    counts = _counts(_timeline(cues, length, rest), *_windows(clock, frames, 0.5, 0.5), rest)
    return (counts / counts.sum(axis=1, keepdims=True)).astype(np.float32)


def mouth_open(weights: np.ndarray) -> np.ndarray:
    """How open the mouth is per frame (0 closed .. 1 wide open) from shape weights."""
    return (weights @ np.array([OPENNESS[shape] for shape in SHAPES])).astype(np.float32)
