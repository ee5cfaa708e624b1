"""Forced alignment of a transcript with pocketsphinx: a grammar of the words' pronunciations, then phone times.

Each word may be said several ways: the CMU dictionary's pronunciations and the
one espeak-ng gives it in this sentence (its reduced and regional forms, and
letter-to-sound for words the dictionary lacks). A JSGF grammar offers every
variant of every word in order, with an optional pause between words; the
word pass picks the variants the audio fits best, and the sub-word pass times
their phones. Variants and pauses are ordinary dictionary words with names no
transcript word can have (``dog_2``, ``pause_``), because pocketsphinx's
sub-word pass fails on its own alternate-pronunciation and filler entries.

A long take is aligned in pieces (:func:`align_take`): with the default beams
the word pass finds no path through a minute of speech, and the sub-word pass
fails on long audio. A ``wide`` aligner (wider beams, about half the speed)
finds the words over the whole take; the take is cut in the middle of the
pauses it found into pieces of at most ``_PIECE`` seconds, and each piece is
aligned like a line with its own words.
"""

from __future__ import annotations

import re

import numpy as np

from .phones import CONSONANTS, RATE, VOWELS, Phone, decode, label, to_pcm

__all__ = ["Aligner", "align_take"]

_PAUSE = "pause_"
_VARIANT = re.compile(r"_\d+$")
_PIECE = 4.0
_SAMPLES_PER_FRAME = RATE // 100
_MAX_VARIANTS = 20_000


class Aligner:
    """Pocketsphinx decoders for alignment and the variant names they have learnt (rebuilt after a failure);
    ``wide`` beams for long takes.

    A line's word pass only chooses variants and pauses, which needs no 10 ms
    timing: it runs on a second decoder that scores every other frame (``ds`` 2,
    about half the cost of a pass; agreement within half a point on the benchmark);
    the timing passes run on every frame. A long take's word pass keeps every frame.
    """

    def __init__(self, model_check, wide: bool = False) -> None:
        self._model_check = model_check
        self._beams = {"beam": 1e-120, "wbeam": 1e-100, "pbeam": 1e-120} if wide else {}
        self._skip = 1 if wide else 2
        self._decoder = self._chooser = None
        self._names: dict[tuple[str, str], str] = {}

    def _ready(self):
        if self._decoder is None:
            self._model_check()
            self._decoder = self._new(1)
            self._chooser = self._decoder if self._skip == 1 else self._new(self._skip)
            self._names = {}
        return self._decoder

    def _new(self, skip: int):
        from pocketsphinx import Decoder

        decoder = Decoder(samprate=RATE, lm=None, loglevel="FATAL", fsgusefiller=False, fsgusealtpron=False, ds=skip,
                          **self._beams)
        decoder.add_word(_PAUSE, "SIL", True)
        return decoder

    def _name(self, word: str, phones: str) -> str:
        """The dictionary word that says ``word`` as ``phones``, added on first use."""
        decoder = self._decoder
        if decoder.lookup_word(word) == phones:
            return word
        if (word, phones) not in self._names:
            name = f"{word}_{len(self._names) + 2}"
            decoder.add_word(name, phones, True)
            if self._chooser is not decoder:
                self._chooser.add_word(name, phones, True)
            self._names[(word, phones)] = name
        return self._names[(word, phones)]

    def _variants(self, word: str, spoken: tuple[str, ...]) -> list[str]:
        """Names of every pronunciation of ``word``: the dictionary's, then espeak-ng's in this sentence."""
        decoder = self._decoder
        pronunciations, variant = [], word
        while (phones := decoder.lookup_word(variant)) is not None:
            pronunciations.append(phones)
            variant = f"{word}({len(pronunciations) + 1})"
        said = " ".join(phone for phone in spoken if phone in VOWELS or phone in CONSONANTS)
        if said and said not in pronunciations:
            pronunciations.append(said)
        return list(dict.fromkeys(self._name(word, phones) for phones in pronunciations))

    def _items(self, words: list[str]) -> list[tuple[str, str]]:
        """(word, its grammar item: the word or its variants as alternatives); a word with no pronunciation is dropped."""
        from .espeak import pronounce, spell

        spoken = pronounce(words) or [spell(word) for word in words]
        items = []
        for word, phones in zip(words, spoken):
            names = self._variants(word, phones)
            if names:
                items.append((word, names[0] if len(names) == 1 else "( " + " | ".join(names) + " )"))
        return items

    def _words(self, pcm: bytes, grammar: str) -> list[tuple[str, int, int]] | None:
        """The word pass: (dictionary word, first frame, last frame) of each word and pause, or None."""
        decoder = self._chooser
        decoder.add_jsgf_string("transcript", grammar)
        decoder.activate_search("transcript")
        decode(decoder, pcm)
        if decoder.hyp() is None:
            return None
        return [(segment.word, segment.start_frame, segment.end_frame) for segment in decoder.seg()
                if segment.word not in ("<s>", "</s>", "<sil>")]

    def _phones(self, pcm: bytes, names: list[str]) -> list[Phone] | None:
        """The sub-word pass over ``pcm`` for the dictionary words ``names`` (in order), or None if it fails."""
        decoder = self._decoder
        grammar = "#JSGF V1.0;\ngrammar piece;\npublic <piece> = " + " ".join(names) + " ;\n"
        decoder.add_jsgf_string("piece", grammar)
        decoder.activate_search("piece")
        try:
            decode(decoder, pcm)
            if decoder.hyp() is None:
                return None
            decoder.set_alignment()
            decode(decoder, pcm)
        except RuntimeError:
            self._decoder = None  # a failed sub-word pass leaves the decoder unusable
            return None
        phones = []
        for word in decoder.get_alignment():
            for phone in word:
                name = label(phone.name)
                if name is not None:
                    phones.append(Phone(name, phone.start / 100.0, (phone.start + phone.duration) / 100.0))
        return phones

    def word_pass(self, samples: np.ndarray, words: list[str], pauses: bool) -> list[tuple[str, int, int]] | None:
        """Which variant of each word is said and where, with the pauses between them: (dictionary word, first
        frame, last frame) each, or None when the audio does not fit the words.

        With ``pauses`` the grammar allows silence between words (more exact, but
        pocketsphinx's sub-word pass fails on it more often).
        """
        if len(self._names) > _MAX_VARIANTS:
            self._decoder = None  # a long-running server's dictionary does not grow without bound
        self._ready()
        items = self._items(words)
        if not items:
            return []
        found = self._words(to_pcm(samples), _grammar([item for _, item in items], pauses))
        if found is None or [_VARIANT.sub("", name) for name, _, _ in found if name != _PAUSE] != [
                word for word, _ in items]:
            return None
        return found

    def timed(self, samples: np.ndarray, names: list[str]) -> list[Phone] | None:
        """Phones of the dictionary words ``names`` (variants and pauses as the word pass chose them) in ``samples``."""
        self._ready()
        return self._phones(to_pcm(samples), names)

    def align(self, samples: np.ndarray, words: list[str], pauses: bool) -> list[Phone] | None:
        """Phones of ``words`` timed in ``samples`` (16 kHz, a line), or None when the audio does not fit them."""
        found = self.word_pass(samples, words, pauses)
        if not found:
            return found
        return self.timed(samples, [name for name, _, _ in found])


def align_take(line: Aligner, take: Aligner, samples: np.ndarray, words: list[str], pauses: bool) -> list[Phone] | None:
    """Phones of ``words`` in a long take: ``take`` (wide beams) finds the words, the take is cut at pauses into
    pieces, and ``line`` aligns each piece with its own words (``take``'s choices where ``line`` fails)."""
    found = take.word_pass(samples, words, pauses)
    if not found:
        return found
    phones: list[Phone] = []
    for first, end, names in _pieces(found):
        said = [_VARIANT.sub("", name) for name in names if name != _PAUSE]
        if not said:
            continue
        piece = samples[first * _SAMPLES_PER_FRAME:None if end is None else end * _SAMPLES_PER_FRAME]
        timed = line.align(piece, said, pauses)
        if timed is None:
            timed = take.timed(piece, names)
        if timed is None:
            return None
        phones.extend(Phone(phone.label, phone.start + first / 100.0, phone.end + first / 100.0) for phone in timed)
    return phones


def _grammar(items: list[str], pauses: bool) -> str:
    """JSGF for the grammar items in order, with optional pauses between them."""
    joiner = f" [ {_PAUSE} ] " if pauses else " "
    return "#JSGF V1.0;\ngrammar transcript;\npublic <line> = " + joiner.join(items) + " ;\n"


def _pieces(found: list[tuple[str, int, int]]) -> list[tuple[int, int | None, list[str]]]:
    """The word pass cut in the middle of its pauses into pieces of at most ``_PIECE`` seconds where pauses allow:
    (first frame, end frame or None for the take's end, the words and pauses in it); a short take is one piece."""
    limit = int(_PIECE * 100)
    pieces: list[tuple[int, int | None, list[str]]] = []
    start, names = 0, []
    for index, (name, first, last) in enumerate(found):
        if name == _PAUSE and any(item != _PAUSE for item in names):
            following = next((item[1] for item in found[index + 1:] if item[0] == _PAUSE), found[-1][2])
            if following - start > limit:
                middle = (first + last + 1) // 2
                pieces.append((start, middle, names))
                start, names = middle, []
                continue
        names.append(name)
    pieces.append((start, None, names))
    return pieces
