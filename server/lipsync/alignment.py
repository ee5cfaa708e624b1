"""Forced alignment of a transcript with pocketsphinx: a grammar of the words' pronunciations, then phone times.

Each word may be said several ways: the CMU dictionary's pronunciations and the
one espeak-ng gives it in this sentence (its reduced and regional forms, and
letter-to-sound for words the dictionary lacks). A JSGF grammar offers every
variant of every word in order, with an optional pause between words; the
word pass picks the variants the audio fits best, and the sub-word pass times
their phones. Variants and pauses are ordinary dictionary words with names no
transcript word can have (``dog_2``, ``pause_``), because pocketsphinx's
sub-word pass fails on its own alternate-pronunciation and filler entries.

A long take is aligned in pieces: the word pass runs over the whole take, the
take is cut at the pauses it found (no piece longer than ``_PIECE`` seconds
where pauses allow), and each piece's words are timed by their own sub-word
pass, which keeps that pass small enough to succeed.
"""

from __future__ import annotations

import re

from .phones import CONSONANTS, RATE, VOWELS, Phone, decode, label

__all__ = ["Aligner"]

_PAUSE = "pause_"
_VARIANT = re.compile(r"_\d+$")
_PIECE = 10.0
_BYTES_PER_FRAME = RATE // 100 * 2  # 10 ms of 16-bit samples


class Aligner:
    """One pocketsphinx decoder for alignment and the variant names it has learnt (rebuilt after a failure)."""

    def __init__(self, model_check) -> None:
        self._model_check = model_check
        self._decoder = None
        self._names: dict[tuple[str, str], str] = {}

    def _ready(self):
        if self._decoder is None:
            from pocketsphinx import Decoder

            self._model_check()
            self._decoder = Decoder(samprate=RATE, lm=None, loglevel="FATAL", fsgusefiller=False,
                                    fsgusealtpron=False, topn=2)
            self._decoder.add_word(_PAUSE, "SIL", True)
            self._names = {}
        return self._decoder

    def _name(self, word: str, phones: str) -> str:
        """The dictionary word that says ``word`` as ``phones``, added on first use."""
        decoder = self._decoder
        if decoder.lookup_word(word) == phones:
            return word
        if (word, phones) not in self._names:
            name = f"{word}_{len(self._names) + 2}"
            decoder.add_word(name, phones, True)
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

    def _grammar(self, words: list[str], pauses: bool) -> tuple[str, list[str]] | None:
        """The JSGF grammar for ``words`` and the words it kept (a word with no pronunciation at all is dropped)."""
        from .espeak import pronounce, spell

        spoken = pronounce(words) or [spell(word) for word in words]
        items, kept = [], []
        for word, phones in zip(words, spoken):
            names = self._variants(word, phones)
            if names:
                items.append(names[0] if len(names) == 1 else "( " + " | ".join(names) + " )")
                kept.append(word)
        if not items:
            return None
        joiner = f" [ {_PAUSE} ] " if pauses else " "
        return "#JSGF V1.0;\ngrammar transcript;\npublic <line> = " + joiner.join(items) + " ;\n", kept

    def _words(self, pcm: bytes, grammar: str) -> list[tuple[str, int, int]] | None:
        """The word pass: (dictionary word, first frame, last frame) of each word and pause, or None."""
        decoder = self._decoder
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

    def align(self, pcm: bytes, words: list[str], pauses: bool) -> list[Phone] | None:
        """Phones of ``words`` timed in ``pcm`` (16 kHz 16-bit), or None when the audio does not fit them."""
        self._ready()
        built = self._grammar(words, pauses)
        if built is None:
            return []
        grammar, kept = built
        found = self._words(pcm, grammar)
        if found is None or [_VARIANT.sub("", name) for name, _, _ in found if name != _PAUSE] != kept:
            return None
        phones: list[Phone] = []
        for first, end, names in _pieces(found):
            piece = self._phones(pcm[first * _BYTES_PER_FRAME:None if end is None else end * _BYTES_PER_FRAME], names)
            if piece is None:
                return None
            phones.extend(Phone(phone.label, phone.start + first / 100.0, phone.end + first / 100.0)
                          for phone in piece)
        return phones


def _pieces(found: list[tuple[str, int, int]]) -> list[tuple[int, int | None, list[str]]]:
    """The take cut in the middle of pauses into pieces of at most ``_PIECE`` seconds where pauses allow:
    (first frame, end frame or None for the take's end, the words and pauses the word pass found in it)."""
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
