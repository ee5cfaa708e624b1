"""Wav2Lip's audio front end against a plain re-derivation from the formulas, and against librosa's documented numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from framebridge.server.lipsync import mel as mel_module
from framebridge.server.lipsync.mel import mel_chunk, mel_filterbank, mel_start, melspectrogram, video_chunks


def slaney_mel(hz: float) -> float:
    """Slaney's Auditory Toolbox scale: 3 mels per 200 Hz up to 1 kHz, then 27 mels per factor 6.4."""
    if hz < 1000.0:
        return 3.0 * hz / 200.0
    return 15.0 + 27.0 * math.log(hz / 1000.0) / math.log(6.4)


def slaney_hz(mel: float) -> float:
    if mel < 15.0:
        return 200.0 * mel / 3.0
    return 1000.0 * 6.4 ** ((mel - 15.0) / 27.0)


def reference_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """Band by band, bin by bin: a triangle between neighbouring mel centres, area-normalised."""
    low, high = slaney_mel(f_min), slaney_mel(f_max)
    centres = [slaney_hz(low + (high - low) * k / (n_mels + 1)) for k in range(n_mels + 2)]
    bank = np.zeros((n_mels, n_fft // 2 + 1))
    for band in range(n_mels):
        left, middle, right = centres[band], centres[band + 1], centres[band + 2]
        for bin_index in range(n_fft // 2 + 1):
            frequency = bin_index * sample_rate / n_fft
            if left < frequency <= middle:
                bank[band, bin_index] = (frequency - left) / (middle - left)
            elif middle < frequency < right:
                bank[band, bin_index] = (right - frequency) / (right - middle)
        bank[band] *= 2.0 / (right - left)
    return bank


def reference_melspectrogram(signal: np.ndarray) -> np.ndarray:
    """The whole chain written out: pre-emphasis loop, reflect pad, explicit DFT matrix, dB, scale, clip."""
    emphasised = np.empty_like(signal)
    previous = 0.0
    for index, sample in enumerate(signal):
        emphasised[index] = sample - 0.97 * previous
        previous = sample
    half = 400
    padded = np.concatenate([emphasised[half:0:-1], emphasised, emphasised[-2 : -half - 2 : -1]])
    window = np.array([math.sin(math.pi * n / 800) ** 2 for n in range(800)])  # periodic Hann
    bins = np.arange(401)[:, None]
    dft = np.exp(-2j * np.pi * bins * np.arange(800)[None, :] / 800)
    frame_count = 1 + (padded.size - 800) // 200
    magnitudes = np.stack([np.abs(dft @ (padded[t * 200 : t * 200 + 800] * window)) for t in range(frame_count)], axis=1)
    mels = reference_filterbank(16000, 800, 80, 55.0, 7600.0) @ magnitudes
    decibels = 20.0 * np.log10(np.maximum(1e-5, mels)) - 20.0
    return np.clip(8.0 * (decibels + 100.0) / 100.0 - 4.0, -4.0, 4.0)


def speech_like(seconds: float, seed: int = 3) -> np.ndarray:
    """A known test signal: two harmonic 'vowels' with a noise burst between them, then near-silence."""
    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * 16000)) / 16000.0
    voiced = sum(np.sin(2 * np.pi * 140 * harmonic * time) / harmonic for harmonic in range(1, 12))
    envelope = np.where(time < 0.3, 1.0, np.where(time < 0.4, 0.0, np.where(time < 0.7, 0.6, 0.0)))
    burst = np.where((time >= 0.3) & (time < 0.4), rng.normal(0, 0.2, time.size), 0.0)
    return 0.3 * voiced * envelope + burst + rng.normal(0, 1e-4, time.size)


def test_filterbank_matches_librosas_documented_values():
    # librosa.filters.mel(sr=22050, n_fft=2048) (Slaney scale and norm, its defaults), first rows as its docs print them.
    bank = mel_filterbank(22050, 2048, 128, 0.0, 11025.0)
    assert bank.shape == (128, 1025)
    np.testing.assert_allclose(
        bank[0, :6], [0.0, 0.016182853208219942, 0.032365706416439884, 0.028990088037379964, 0.012807234829160026, 0.0], atol=1e-7
    )
    np.testing.assert_allclose(
        bank[1, :9],
        [0.0, 0.0, 0.0, 0.009779235793639925, 0.025962089001859864, 0.035393705451959974, 0.01921085224374004, 0.003027999035520103, 0.0],
        atol=1e-7,
    )


def test_wav2lip_filterbank_matches_band_by_band_reference():
    np.testing.assert_allclose(mel_filterbank(), reference_filterbank(16000, 800, 80, 55.0, 7600.0), atol=1e-6)


def test_melspectrogram_matches_formulas_on_a_known_signal():
    signal = speech_like(1.0)
    ours = melspectrogram(signal)
    reference = reference_melspectrogram(signal)
    assert ours.shape == (80, 16000 // 200 + 1) == reference.shape
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=2e-3)
    assert ours.min() >= -4.0 and ours.max() <= 4.0


def test_silence_sits_at_the_floor_and_a_tone_lights_its_band():
    assert np.all(melspectrogram(np.zeros(8000)) == -4.0)
    time = np.arange(16000) / 16000.0
    tone = melspectrogram(0.5 * np.sin(2 * np.pi * 1000.0 * time))
    loudest_band = int(tone[:, 40].argmax())
    centres = [slaney_hz(slaney_mel(55.0) + (slaney_mel(7600.0) - slaney_mel(55.0)) * k / 81) for k in range(82)]
    assert centres[loudest_band] < 1000.0 < centres[loudest_band + 2]


def test_video_frames_read_sixteen_mel_frames_from_int_i_times_80_over_fps():
    mel = melspectrogram(speech_like(1.0))
    chunks = video_chunks(mel, 24.0)
    assert all(chunk.shape == (80, 16) for chunk in chunks)
    for index, chunk in enumerate(chunks[:-1]):
        start = int(index * 80 / 24.0)
        np.testing.assert_array_equal(chunk, mel[:, start : start + 16])
        assert mel_start(index / 24.0) == start
        np.testing.assert_array_equal(mel_chunk(mel, mel_start(index / 24.0)), chunk)
    np.testing.assert_array_equal(chunks[-1], mel[:, -16:])


@pytest.mark.parametrize("fps", [23.976, 24.0, 25.0, 29.97, 30.0, 60.0])
def test_mel_start_from_seconds_agrees_with_the_official_frame_index_formula(fps):
    assert [mel_start(index / fps) for index in range(2000)] == [int(index * 80.0 / fps) for index in range(2000)]


def test_chunks_before_the_start_or_of_a_short_track_stay_sixteen_frames():
    short = melspectrogram(np.zeros(800))  # 5 mel frames
    assert mel_chunk(short, 0).shape == (80, 16)
    long = melspectrogram(speech_like(0.5))
    np.testing.assert_array_equal(mel_chunk(long, -5), long[:, :16])


def test_module_constants_are_wav2lips():
    assert (mel_module.SAMPLE_RATE, mel_module.N_FFT, mel_module.HOP, mel_module.WINDOW) == (16000, 800, 200, 800)
    assert (mel_module.N_MELS, mel_module.F_MIN, mel_module.F_MAX) == (80, 55.0, 7600.0)
    assert (mel_module.MIN_LEVEL_DB, mel_module.REF_LEVEL_DB, mel_module.MAX_ABS_VALUE) == (-100.0, 20.0, 4.0)
