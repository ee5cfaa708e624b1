"""Phones from speech with pocketsphinx's en-us model (shipped in its wheel): aligned to a transcript, or recognised.

With a transcript the words are force-aligned by :mod:`.alignment` (each word's
dictionary and espeak-ng pronunciations, the audio picking one; long takes in
pieces) for 10 ms phone times, so no word is ever an error. Without a
transcript, or when the transcript does not match the audio, the all-phone
decoder recognises phones directly (over the audio with a recording's noise
floor added: digital silence misleads it) and the result says so. Phone times are the
centres of the decoder's analysis windows; sound the aligner called pause right
after a phone (a stop's burst) goes to that phone. Decoders are built once per
process (about 0.25 s each) and used under a lock.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field

import numpy as np

from framebridge.protocol.errors import InvalidParams, ModelError

from .audio import AudioTrack, resample

__all__ = ["Phone", "Recognition", "recognise", "words_of", "decode", "label", "loud", "to_pcm", "VOWELS", "CONSONANTS",
           "RATE"]

RATE = 16000
_LONG_TAKE = 15.0
VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
CONSONANTS = frozenset("B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split())
_WORD = re.compile(r"[a-z0-9']+")
_MAX_TRANSCRIPT = 100_000


@dataclass(frozen=True)
class Phone:
    """One ARPAbet phone (no stress digit) from ``start`` to ``end`` seconds."""

    label: str
    start: float
    end: float


@dataclass
class Recognition:
    """Phones over a track, how they were found (``aligned`` or ``recognised``), and notes for the user."""

    phones: list[Phone]
    method: str
    notes: list[str] = field(default_factory=list)


def words_of(transcript: object) -> list[str]:
    """The transcript's words, lower case; a transcript that is not text is an :class:`InvalidParams`."""
    if not isinstance(transcript, str):
        raise InvalidParams(f"transcript must be text, not {type(transcript).__name__}", details={"param": "transcript"})
    if len(transcript) > _MAX_TRANSCRIPT:
        raise InvalidParams(f"transcript has {len(transcript)} characters; the limit is {_MAX_TRANSCRIPT}",
                            details={"param": "transcript"})
    return [word.strip("'") for word in _WORD.findall(transcript.lower()) if word.strip("'")]


class _Decoders:
    """The aligner and the all-phone decoder, built on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._aligners: dict[bool, object] = {}
        self._allphone = None

    @staticmethod
    def _model() -> str:
        try:
            import pocketsphinx
        except ImportError:
            raise ModelError("pocketsphinx is not installed", fix="pip install 'framebridge[audio]'") from None
        return pocketsphinx.get_model_path()

    def _aligner(self, wide: bool):
        if wide not in self._aligners:
            from .alignment import Aligner

            self._aligners[wide] = Aligner(self._model, wide)
        return self._aligners[wide]

    def align(self, samples: np.ndarray, words: list[str]) -> list[Phone] | None:
        """Aligned phones of ``words``, or None: a line at once, a take past ``_LONG_TAKE`` seconds (or a line
        that fails at once) in pieces; each first with pauses between words allowed (more exact), then without
        (pocketsphinx's sub-word pass fails less)."""
        from .alignment import align_take

        line, take = self._aligner(False), self._aligner(True)
        if len(samples) <= _LONG_TAKE * RATE:
            for pauses in (True, False):
                phones = line.align(samples, words, pauses)
                if phones is not None:
                    return phones
        for pauses in (True, False):
            phones = align_take(line, take, samples, words, pauses)
            if phones is not None:
                return phones
        return None

    def allphone(self):
        if self._allphone is None:
            from pocketsphinx import Decoder

            model = os.path.join(self._model(), "en-us", "en-us-phone.lm.bin")
            # Narrow beams and 2 Gaussians per senone: 1.5x faster at the same agreement on test speech
            # (over the noise floor, 1e-9 is 15% faster than 1e-10 at the same agreement; 1e-8 loses 10 points).
            self._allphone = Decoder(samprate=RATE, lm=None, allphone=model, loglevel="FATAL", backtrace=False,
                                     beam=1e-9, pbeam=1e-9, lw=2.0, topn=2)
        return self._allphone


_decoders = _Decoders()


_SILENCE_DB = -35.0
_MARGIN = 0.05


def loud(samples: np.ndarray) -> np.ndarray:
    """Per 10 ms of ``samples``, whether it rises within 35 dB of the loudest 10 ms."""
    hop = RATE // 100
    frames = len(samples) // hop
    if frames == 0:
        return np.zeros(0, bool)
    energy = np.sqrt(np.mean(samples[:frames * hop].reshape(frames, hop).astype(np.float64) ** 2, axis=1))
    return energy > max(float(energy.max()) * 10 ** (_SILENCE_DB / 20), 1e-4)


def _speech(track: AudioTrack) -> tuple[np.ndarray, float]:
    """16 kHz samples from the first to the last 10 ms that rise within 35 dB of the loudest, and their start time.

    Aligning only the spoken span keeps leading and trailing silence out of the
    first and last phones. An all-silent track gives no samples.
    """
    samples = resample(track, RATE).samples
    hop = RATE // 100
    audible = np.flatnonzero(loud(samples))
    if len(audible) == 0:
        return samples[:0], 0.0
    first = max(0, audible[0] * hop - int(_MARGIN * RATE))
    last = min(len(samples), (audible[-1] + 1) * hop + int(_MARGIN * RATE))
    return samples[first:last], first / RATE


# White noise this far below full scale, added before all-phone recognition, and its fixed seed.
_NOISE_FLOOR_DB = -70.0
_NOISE_SEED = 0


def to_pcm(samples: np.ndarray, noise_floor: bool = False) -> bytes:
    """16-bit little-endian PCM, peak-normalised (quiet recordings recognise as badly as loud ones clip).

    With ``noise_floor``, white noise 70 dB below full scale is added (seeded, so
    the same audio gives the same phones). The acoustic model learnt from
    recordings, which always have a noise floor; digital silence (exact zeros:
    edited or padded dialogue, synthesised speech, whose stop closures are
    zeros too) is unlike anything it heard, and the all-phone pass calls such
    closures silence and misreads the sounds around them (51% of frames agreed
    on the benchmark's sentences without the floor, 63% with it). A recording
    with its own floor is barely changed.
    """
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    scale = 0.9 / peak if peak > 1e-4 else 1.0
    signal = samples.astype(np.float64) * scale
    if noise_floor:
        signal += np.random.default_rng(_NOISE_SEED).normal(0.0, 10 ** (_NOISE_FLOOR_DB / 20), len(signal))
    return (np.clip(signal, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def decode(decoder, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def label(name: str) -> str | None:
    """ARPAbet label of a decoder phone, or None for silence and fillers (+NSN+, +BREATH+, ...)."""
    label = name.rstrip("012").upper()
    return label if label in VOWELS or label in CONSONANTS else None


def _recognised(samples: np.ndarray) -> list[Phone]:
    decoder = _decoders.allphone()
    decode(decoder, to_pcm(samples, noise_floor=True))
    phones = []
    for segment in decoder.seg() or []:
        name = label(segment.word)
        if name is not None:
            phones.append(Phone(name, segment.start_frame / 100.0, (segment.end_frame + 1) / 100.0))
    return phones


# A decoder frame is stamped with the start of its 25.6 ms analysis window; the sound it
# describes is centred half a window later.
_WINDOW_CENTRE = 0.0128


def _shifted(phones: list[Phone], offset: float) -> list[Phone]:
    offset += _WINDOW_CENTRE
    return [Phone(phone.label, phone.start + offset, phone.end + offset) for phone in phones]


def recognise(track: AudioTrack, transcript: str | None = None) -> Recognition:
    """Phones of ``track``: aligned to ``transcript`` when given and it matches the audio, else recognised."""
    from .boundaries import tidy

    words = words_of(transcript) if transcript is not None else []
    samples, offset = _speech(track)
    if len(samples) == 0:
        return Recognition([], "silence", ["the track is silent: the mouth rests (X) throughout"])
    with _decoders.lock:
        if words:
            phones = _decoders.align(samples, words)
            if phones is not None:
                return Recognition(_shifted(tidy(phones, loud(samples)), offset), "aligned")
            return Recognition(_shifted(tidy(_recognised(samples), loud(samples)), offset), "recognised",
                               ["the transcript could not be aligned to the audio; phones were recognised without it"])
        notes = [] if transcript is None else ["the transcript has no words; phones were recognised without it"]
        return Recognition(_shifted(tidy(_recognised(samples), loud(samples)), offset), "recognised", notes)
