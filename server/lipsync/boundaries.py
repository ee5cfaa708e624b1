"""Where phones begin and end: corrections to the pauses pocketsphinx puts around stops.

The decoder often calls part of a stop a pause: the silent closure before it, or
the burst after it (and a final consonant's tail). The rules need the stop's
real span (a P or B closes the lips from its closure to its release), so a short
pause right before a stop becomes its closure, and sound resuming right after a
phone is given back to that phone (between two stops, the first one's burst).
"""

from __future__ import annotations

import numpy as np

from .phones import Phone

__all__ = ["tidy", "with_closures", "with_releases", "with_stop_releases"]

_RELEASE_GAP = 6


def with_releases(phones: list[Phone], audible: np.ndarray) -> list[Phone]:
    """Give a pause's audible start to the phone before it (``audible``: per 10 ms, whether it is sound).

    The aligner often calls a stop's burst (after its silent closure) or a
    final consonant's tail silence; sound that resumes within 60 ms of the
    phone's end and runs on belongs to that phone, so its end moves to where
    the sound stops (never past the next phone).
    """
    result = list(phones)
    for index, phone in enumerate(phones):
        end = round(phone.end * 100)
        following = round(phones[index + 1].start * 100) if index + 1 < len(phones) else len(audible)
        if following <= end:
            continue
        gap = audible[end:following]
        onsets = np.flatnonzero(gap[:_RELEASE_GAP + 1])
        if len(onsets) == 0:
            continue
        quiet_after = np.flatnonzero(~gap[onsets[0]:])
        stop = end + onsets[0] + (quiet_after[0] if len(quiet_after) else len(gap) - onsets[0])
        result[index] = Phone(phone.label, phone.start, stop / 100.0)
    return result


_STOPS = frozenset("P B T D K G".split())
_CLOSURE_GAP = 0.15


def with_closures(phones: list[Phone]) -> list[Phone]:
    """A short pause the aligner puts right before a stop is the stop's silent closure: the stop starts there.

    (Phoneticians, and the rules' closure before P and B, time a stop from its
    closure; the aligner tends to start it at the burst.)
    """
    result = list(phones)
    for index in range(1, len(phones)):
        phone, before = phones[index], result[index - 1]
        if phone.label in _STOPS and 0 < phone.start - before.end <= _CLOSURE_GAP:
            result[index] = Phone(phone.label, before.end, phone.end)
    return result


def with_stop_releases(phones: list[Phone], audible: np.ndarray) -> list[Phone]:
    """Sound in a short pause between two stops is the first stop's release: the first stop ends after it.

    Each stop is a silent closure then a burst. Between two stops the aligner
    may call the first one's burst pause, and :func:`with_closures` would
    give the whole pause, burst too, to the second stop as its closure; only
    the silence after the burst is that closure.
    """
    result = list(phones)
    for index in range(1, len(phones)):
        phone, before = phones[index], result[index - 1]
        if phone.label not in _STOPS or before.label not in _STOPS or phone.start - before.end > _CLOSURE_GAP:
            continue
        end = round(before.end * 100)
        sound = np.flatnonzero(audible[end:round(phone.start * 100)])
        if len(sound):
            result[index - 1] = Phone(before.label, before.start, (end + sound[-1] + 1) / 100.0)
    return result


def tidy(phones: list[Phone], audible: np.ndarray) -> list[Phone]:
    """The corrections, over ``audible`` (per 10 ms of the decoded audio, whether it is sound)."""
    return with_closures(with_stop_releases(with_releases(phones, audible), audible))
