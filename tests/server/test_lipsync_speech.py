"""Cues from real synthesised speech, against the shapes the synthesiser's own phoneme timing gives under the same rules.

libespeak-ng (from the espeakng-loader wheel) speaks sentences chosen here and
reports each phoneme's sample position; those phonemes in ARPAbet, through
rules.animate, are the ground truth the recognised cue track is compared with.
"""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.protocol.errors import InvalidParams
from framebridge.server.lipsync.audio import AudioTrack, FrameClock
from framebridge.server.lipsync.espeak import pronounce, spell, synthesise, to_arpabet
from framebridge.server.lipsync.boundaries import tidy, with_closures, with_releases, with_stop_releases
from framebridge.server.lipsync.phones import Phone, recognise, to_pcm, words_of
from framebridge.server.lipsync.rules import animate, frame_shapes

SENTENCES = [
    "Hello world, my big brown bag.",
    "Maybe Bob paid for the map.",
    "Peter Piper picked a peck of pickled peppers.",
    "Mumbling, the moonlit boatman paddled past the pier.",
    "She sells sea shells by the sea shore.",
    "Every morning the baker opens the shop at seven.",
]
CLOCK = FrameClock(24, 1001)


@pytest.fixture(scope="module")
def lines():
    """Each sentence spoken, with its ground-truth and recognised per-frame shapes (with and without transcript)."""
    result = []
    for sentence in SENTENCES:
        line = synthesise(sentence)
        track = AudioTrack(line.samples, line.sample_rate)
        frames = CLOCK.frames_for(track.duration)
        truth = frame_shapes(animate(line.phones, track.duration), CLOCK, frames)
        aligned = recognise(track, sentence)
        heard = recognise(track)
        result.append({
            "line": line, "frames": frames, "truth": truth, "aligned": aligned, "heard": heard,
            "with_transcript": frame_shapes(animate(aligned.phones, track.duration), CLOCK, frames),
            "without_transcript": frame_shapes(animate(heard.phones, track.duration), CLOCK, frames),
        })
    return result


def agreement(lines, key: str) -> float:
    same = sum(sum(a == b for a, b in zip(line["truth"], line[key])) for line in lines)
    return same / sum(len(line["frames"]) for line in lines)


def test_synthesiser_phones_are_timed_in_order_inside_the_audio():
    line = synthesise("Maybe Bob paid for the map.")
    assert line.sample_rate == 22050 and len(line.samples) > line.sample_rate
    assert [phone.label for phone in line.phones][:4] == ["M", "EY", "B", "IY"]
    assert all(a.end <= b.start + 1e-9 and a.start < a.end for a, b in zip(line.phones, line.phones[1:]))
    assert line.phones[-1].end <= len(line.samples) / line.sample_rate


def test_espeak_mnemonics_map_to_arpabet():
    assert to_arpabet("'aI@") == ("AY", "ER")
    assert to_arpabet("dZ") == ("JH",)
    assert to_arpabet("_:") == ()


def test_every_sentence_aligns_to_its_transcript(lines):
    assert [line["aligned"].method for line in lines] == ["aligned"] * len(lines)


def test_with_transcript_agreement_reaches_the_issue_goal(lines):
    assert agreement(lines, "with_transcript") >= 0.85


def test_without_transcript_agreement_reaches_the_issue_goal(lines):
    assert agreement(lines, "without_transcript") >= 0.60


def test_recognition_audio_gets_a_seeded_noise_floor_far_below_the_speech():
    samples = np.zeros(16000, np.float32)
    samples[4000:8000] = 0.5 * np.sin(np.arange(4000) * 0.3)
    plain = np.frombuffer(to_pcm(samples), "<i2").astype(float)
    floored = np.frombuffer(to_pcm(samples, noise_floor=True), "<i2").astype(float)
    assert np.all(plain[:4000] == 0) and np.all(plain[8000:] == 0)
    level = 20 * np.log10(np.sqrt(np.mean((floored[:4000] / 32767) ** 2)))
    assert -72 < level < -68  # digital silence becomes a recording's quiet floor
    assert np.max(np.abs(floored - plain)) < 100  # the speech (peak 29490) barely changes
    assert to_pcm(samples, noise_floor=True) == to_pcm(samples, noise_floor=True)


def missed_closures(lines) -> tuple[list[tuple[str, int]], int]:
    """Ground-truth P/B/M closures (first frame of each A run) without an A in the cue track within one frame."""
    missed, total = [], 0
    for line in lines:
        truth, cues = line["truth"], line["with_transcript"]
        closures = [index for index, shape in enumerate(truth) if shape == "A"
                    and (index == 0 or truth[index - 1] != "A")]
        for index in closures:
            total += 1
            if "A" not in cues[max(0, index - 1):index + 2]:
                missed.append((line["line"].text, line["frames"][index]))
    return missed, total


def test_every_p_b_m_closure_in_ground_truth_has_an_a_within_one_frame(lines):
    missed, total = missed_closures(lines)
    assert total >= 15
    assert missed == []


def test_the_aligner_picks_the_pronunciation_that_was_said():
    line = synthesise("The lazy dog.")  # espeak says "dog" with AA; the CMU dictionary has AO
    assert "AA" in [phone.label for phone in line.phones]
    aligned = recognise(AudioTrack(line.samples, line.sample_rate), "The lazy dog.")
    assert aligned.method == "aligned"
    assert [phone.label for phone in aligned.phones][-3:] == ["D", "AA", "G"]


def test_espeak_pronounces_words_in_context_or_says_it_cannot():
    assert pronounce(["the", "dog"])[1] == ("D", "AA", "G")
    assert pronounce(["42", "times"]) is None  # espeak says "forty two": its words no longer line up


def test_sound_after_a_phone_the_aligner_called_pause_goes_to_that_phone():
    loud = np.zeros(60, bool)
    loud[10:20] = loud[23:30] = loud[50:60] = True  # a stop: closure 20-23, burst 23-30, then a real pause
    phones = [Phone("AE", 0.10, 0.18), Phone("P", 0.18, 0.20), Phone("M", 0.50, 0.60)]
    assert with_releases(phones, loud) == [Phone("AE", 0.10, 0.18), Phone("P", 0.18, 0.30), Phone("M", 0.50, 0.60)]


def test_a_short_pause_right_before_a_stop_is_its_closure():
    phones = [Phone("N", 0.10, 0.19), Phone("B", 0.24, 0.27), Phone("AE", 0.27, 0.40), Phone("P", 0.80, 0.85)]
    assert with_closures(phones) == [Phone("N", 0.10, 0.19), Phone("B", 0.19, 0.27), Phone("AE", 0.27, 0.40),
                                      Phone("P", 0.80, 0.85)]  # 0.40 s before the P is a real pause


def test_a_burst_in_the_pause_between_two_stops_is_the_first_stops_release():
    loud = np.zeros(60, bool)
    loud[10:29] = loud[34:40] = loud[43:55] = True  # "moonlit boat": T closure 29-34, T burst 34-40, B closure 40-43
    phones = [Phone("IH", 0.10, 0.24), Phone("T", 0.24, 0.29), Phone("B", 0.43, 0.46), Phone("OW", 0.46, 0.55)]
    assert with_stop_releases(phones, loud)[1] == Phone("T", 0.24, 0.40)
    assert tidy(phones, loud)[1:3] == [Phone("T", 0.24, 0.40), Phone("B", 0.40, 0.46)]  # not B from 0.29


def test_a_pause_before_a_stop_after_a_vowel_keeps_its_closure_rule():
    loud = np.zeros(60, bool)
    loud[10:24] = loud[29:35] = loud[38:50] = True
    phones = [Phone("AE", 0.10, 0.24), Phone("B", 0.38, 0.41)]
    assert with_stop_releases(phones, loud) == phones


def test_the_aligner_starts_a_fresh_dictionary_past_its_variant_limit(monkeypatch):
    from framebridge.server.lipsync import alignment, phones

    line = synthesise("The lazy dog.")
    track = AudioTrack(line.samples, line.sample_rate)
    first = recognise(track, "The lazy dog.")
    aligner = phones._decoders._aligner(False)
    decoder = aligner._decoder
    monkeypatch.setattr(alignment, "_MAX_VARIANTS", 0)
    again = recognise(track, "The lazy dog.")  # a fresh decoder, variants added again: the same phones
    assert aligner._decoder is not decoder
    assert first.method == again.method == "aligned" and first.phones == again.phones


@pytest.mark.slow
def test_a_long_take_is_aligned_in_pieces_not_recognised():
    text = " ".join(SENTENCES * 3)
    line = synthesise(text)
    track = AudioTrack(line.samples, line.sample_rate)
    assert track.duration > 40
    aligned = recognise(track, text)
    assert aligned.method == "aligned" and aligned.notes == []
    frames = CLOCK.frames_for(track.duration)
    truth = frame_shapes(animate(line.phones, track.duration), CLOCK, frames)
    cues = frame_shapes(animate(aligned.phones, track.duration), CLOCK, frames)
    heard = frame_shapes(animate(recognise(track).phones, track.duration), CLOCK, frames)
    aligned_agreement = np.mean([a == b for a, b in zip(truth, cues)])
    assert aligned_agreement >= 0.65
    assert aligned_agreement > np.mean([a == b for a, b in zip(truth, heard)]) + 0.05
    # every word's phones are there, in order, across the pieces
    assert len(aligned.phones) >= len(words_of(text)) * 3
    assert all(a.start <= b.start for a, b in zip(aligned.phones, aligned.phones[1:]))


def test_a_transcript_of_other_words_is_not_forced_onto_the_audio():
    line = synthesise("Maybe Bob paid for the map.")
    recognition = recognise(AudioTrack(line.samples, line.sample_rate), "She sells sea shells by the sea shore.")
    assert recognition.method == "recognised"
    assert recognition.notes == ["the transcript could not be aligned to the audio; phones were recognised without it"]


def test_silence_gives_rest():
    track = AudioTrack(np.zeros(16000, np.float32), 16000)
    recognition = recognise(track, "hello")
    assert recognition.phones == [] and recognition.method == "silence"
    assert {cue.shape for cue in animate(recognition.phones, track.duration)} == {"X"}


def test_words_missing_from_the_dictionary_still_get_phones():
    assert spell("glorped") and spell("zyxqua")
    line = synthesise("The zyxqua glorped twice.")
    recognition = recognise(AudioTrack(line.samples, line.sample_rate), "The zyxqua glorped twice.")
    assert recognition.method == "aligned"
    assert len(recognition.phones) >= 10


def test_a_transcript_that_is_not_text_is_refused():
    with pytest.raises(InvalidParams, match="transcript must be text"):
        words_of(["hello"])
    assert words_of("Don't stop -- 42 times!") == ["don't", "stop", "42", "times"]
