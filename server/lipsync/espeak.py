"""libespeak-ng (from the ``espeakng-loader`` wheel) through ctypes: speech with known phoneme timing, and spellings.

Two uses: :func:`synthesise` speaks a sentence and reports where each phoneme
starts (the synthesiser's own phoneme events), which is ground truth for tests,
benchmarks and the demo; :func:`spell` gives ARPAbet phones for any word, the
letter-to-sound fallback for words the CMU dictionary lacks. The library keeps
global state, so every call holds one lock.
"""

from __future__ import annotations

import ctypes
import functools
import re
import threading
from dataclasses import dataclass

import numpy as np

from framebridge.protocol.errors import ModelError

from .phones import Phone

__all__ = ["Synthesised", "synthesise", "spell", "pronounce", "to_arpabet", "VOICE"]

# The Klatt voice variants sound close enough to speech for pocketsphinx's en-us model;
# the default formant voice is recognised poorly.
VOICE = "en-us+klatt2"

_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_PARAMETER_RATE = 1

# espeak-ng's English phoneme mnemonics (stress marks removed) -> ARPAbet; "" is a pause.
_ARPABET: dict[str, tuple[str, ...]] = {
    "_": (), "_:": (), "_!": (), "_^_": (), "?": (), "||": (), "|": (),
    "a": ("AE",), "a#": ("AE",), "aa": ("AE",), "A:": ("AA",), "A@": ("AA", "R"), "A": ("AA",), "0": ("AA",),
    "0@": ("AO", "R"), "O": ("AO",), "O:": ("AO",), "O@": ("AO", "R"), "o@": ("AO", "R"), "OI": ("OY",),
    "oU": ("OW",), "o": ("OW",), "aI": ("AY",), "aI@": ("AY", "ER"), "aI3": ("AY", "ER"), "aU": ("AW",),
    "aU@": ("AW", "ER"), "@": ("AH",), "@2": ("AH",), "@5": ("AH",), "@L": ("AH", "L"), "@r": ("ER",), "3": ("ER",),
    "3:": ("ER",), "e": ("EH",), "E": ("EH",), "e@": ("EH", "R"), "eI": ("EY",), "i": ("IY",), "i:": ("IY",),
    "i@": ("IY", "R"), "i@3": ("IY", "R"), "I": ("IH",), "I2": ("IH",), "I#": ("IH",), "I@": ("IH", "R"),
    "u": ("UW",), "u:": ("UW",), "U": ("UH",), "U@": ("UH", "R"), "V": ("AH",),
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "t#": ("T",), "d#": ("D",), "k": ("K",), "g": ("G",),
    "f": ("F",), "v": ("V",), "T": ("TH",), "D": ("DH",), "s": ("S",), "z": ("Z",), "S": ("SH",), "Z": ("ZH",),
    "tS": ("CH",), "dZ": ("JH",), "h": ("HH",), "x": ("HH",), "m": ("M",), "n": ("N",), "n-": ("N",),
    "N": ("NG",), "l": ("L",), "l-": ("L",), "l/": ("L",), "l/2": ("L",), "r": ("R",), "r-": ("R",),
    "j": ("Y",), "w": ("W",), "z/2": ("Z",), "m-": ("M",),
}
_LONGEST = sorted(_ARPABET, key=len, reverse=True)
_STRESS = re.compile(r"[',%=]")


@functools.lru_cache(maxsize=4096)
def to_arpabet(mnemonic: str) -> tuple[str, ...]:
    """ARPAbet phones for one or more run-together espeak mnemonics (longest match first; unknown marks skipped).

    Remembered: a line repeats a few dozen mnemonics, and scanning for the longest match cost more than
    espeak-ng's own phonemisation."""
    text, phones = _STRESS.sub("", mnemonic), []
    while text:
        match = next((key for key in _LONGEST if key and text.startswith(key)), None)
        if match is None:
            text = text[1:]
            continue
        phones.extend(_ARPABET[match])
        text = text[len(match):]
    return tuple(phones)


class _Event(ctypes.Structure):
    class _Id(ctypes.Union):
        _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _Id)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_lock = threading.Lock()
_state: dict[str, object] = {}


def _library() -> tuple[ctypes.CDLL, int]:
    """The loaded library and its output rate (initialised once)."""
    if "library" not in _state:
        try:
            import espeakng_loader
        except ImportError:
            raise ModelError("espeak-ng is not installed", fix="pip install 'framebridge[audio]'") from None
        library = ctypes.CDLL(espeakng_loader.get_library_path())
        library.espeak_TextToPhonemes.restype = ctypes.c_char_p
        library.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        rate = library.espeak_Initialize(_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(),
                                         _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise ModelError("espeak-ng did not initialise", fix="reinstall espeakng-loader")
        _state.update(library=library, rate=rate)
    return _state["library"], _state["rate"]  # type: ignore[return-value]


@dataclass(frozen=True)
class Synthesised:
    """A spoken sentence: mono float32 samples, their rate, and ARPAbet phones timed by the synthesiser."""

    text: str
    samples: np.ndarray
    sample_rate: int
    phones: list[Phone]


def synthesise(text: str, *, voice: str = VOICE, words_per_minute: int = 150) -> Synthesised:
    """Speak ``text``; each phone starts at the sample the synthesiser reported and ends where the next begins."""
    with _lock:
        library, rate = _library()
        chunks: list[np.ndarray] = []
        marks: list[tuple[int, str]] = []

        def receive(wave, count, events):  # called by espeak on this thread during espeak_Synchronize
            if count > 0:
                chunks.append(np.ctypeslib.as_array(wave, shape=(count,)).copy())
            index = 0
            while events[index].type != _EVENT_LIST_TERMINATED:
                if events[index].type == _EVENT_PHONEME:
                    marks.append((events[index].sample, events[index].id.string.decode("utf-8", "replace")))
                index += 1
            return 0

        callback = _CALLBACK(receive)
        library.espeak_SetSynthCallback(callback)
        if library.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ModelError(f"espeak-ng has no voice {voice!r}")
        library.espeak_SetParameter(_PARAMETER_RATE, int(words_per_minute), 0)
        encoded = text.encode("utf-8")
        library.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, 0, None, None)
        library.espeak_Synchronize()
    samples = (np.concatenate(chunks) if chunks else np.zeros(0, np.int16)).astype(np.float32) / 32768.0
    marks = _with_closures(marks, samples, rate)
    phones: list[Phone] = []
    for (sample, name), following in zip(marks, [m[0] for m in marks[1:]] + [len(samples)]):
        arpabet = to_arpabet(name)
        if not arpabet or following <= sample:
            continue
        # A mnemonic that stands for two phones (e.g. "aI@") splits its span evenly.
        step = (following - sample) / len(arpabet)
        for index, label in enumerate(arpabet):
            phones.append(Phone(label, (sample + index * step) / rate, (sample + (index + 1) * step) / rate))
    return Synthesised(text, samples, rate, phones)


_STOPS = frozenset("p b t d k g t# d#".split())
_CLOSURE_WINDOW = 0.005
_CLOSURE_LONGEST = 0.15
_CLOSURE_DB = -30.0


def _with_closures(marks: list[tuple[int, str]], samples: np.ndarray, rate: int) -> list[tuple[int, str]]:
    """Stops begin where their closure goes quiet, not at the release espeak reports (as phoneticians label them)."""
    window = max(1, int(_CLOSURE_WINDOW * rate))
    if len(samples) < window:
        return marks
    frames = len(samples) // window
    energy = np.sqrt(np.mean(samples[:frames * window].reshape(frames, window) ** 2, axis=1))
    quiet = energy < max(float(energy.max()) * 10 ** (_CLOSURE_DB / 20), 1e-5)
    result = list(marks)
    for index, (sample, name) in enumerate(marks):
        if _STRESS.sub("", name) not in _STOPS or index == 0:
            continue
        frame, earliest = min(sample // window, frames) - 1, max(marks[index - 1][0] // window + 1, 0)
        limit = sample // window - int(_CLOSURE_LONGEST / _CLOSURE_WINDOW)
        while frame >= max(earliest, limit, 0) and quiet[frame]:
            frame -= 1
        result[index] = (min(sample, (frame + 1) * window), name)
    return result


def _phonemes(text: str) -> list[str]:
    """espeak-ng's en-us phonemes for ``text``, one string per clause: words apart by two spaces, phonemes by one."""
    with _lock:
        library, _ = _library()
        library.espeak_SetVoiceByName(b"en-us")
        pointer = ctypes.c_char_p(text.encode("utf-8"))
        pieces = []
        for _ in range(len(text) + 1):  # one call per clause
            if not pointer.value:
                break
            result = library.espeak_TextToPhonemes(ctypes.byref(pointer), 0, ord(" ") << 8)
            pieces.append((result or b"").decode("utf-8", "replace"))
    return pieces


def spell(word: str) -> tuple[str, ...]:
    """ARPAbet phones for any word by espeak-ng's letter-to-sound rules (empty if it yields none)."""
    return tuple(label for piece in _phonemes(word) for mnemonic in piece.split() for label in to_arpabet(mnemonic))


def pronounce(words: list[str]) -> list[tuple[str, ...]] | None:
    """Each word's ARPAbet phones as espeak-ng says it in this sentence (reduced forms, its vowels).

    None when espeak's words do not line up with ``words`` (it expands numbers
    and abbreviations into several words).
    """
    spoken = [word for piece in _phonemes(" ".join(words)) for word in piece.split("  ") if word.strip()]
    if len(spoken) != len(words):
        return None
    return [tuple(label for mnemonic in word.split() for label in to_arpabet(mnemonic)) for word in spoken]
