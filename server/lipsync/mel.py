"""Wav2Lip's audio front end: 16 kHz mono PCM to normalised 80-band mel frames.

The model was trained on exactly this spectrogram, so every constant matters:
pre-emphasis 0.97, a centred STFT (n_fft 800, hop 200, periodic Hann window of
800, reflect padding as librosa 0.7 did), a Slaney-style mel filterbank (80 bands,
55-7600 Hz, area-normalised), amplitude to dB with a -100 dB floor, minus a
reference of 20 dB, then scaled symmetrically and clipped to [-4, 4]. That gives
80 mel frames per second; video frame ``i`` at ``fps`` reads the 16 mel frames
starting at ``int(i * 80 / fps)``.

Plain numpy: no librosa (the filterbank is built from Slaney's formulas), no torch.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "SAMPLE_RATE",
    "N_FFT",
    "HOP",
    "WINDOW",
    "N_MELS",
    "MEL_STEP",
    "MEL_FRAMES_PER_SECOND",
    "mel_filterbank",
    "melspectrogram",
    "mel_start",
    "mel_chunk",
    "video_chunks",
]

SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WINDOW = 800
N_MELS = 80
F_MIN = 55.0
F_MAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS_VALUE = 4.0
MEL_STEP = 16  # mel frames per video frame window
MEL_FRAMES_PER_SECOND = SAMPLE_RATE / HOP  # 80

# Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_LOG_START_HZ = 1000.0
_LOG_START_MEL = _LOG_START_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _LINEAR_HZ_PER_MEL
    logarithmic = _LOG_START_MEL + np.log(np.maximum(hz, _LOG_START_HZ) / _LOG_START_HZ) / _LOG_STEP
    return np.where(hz >= _LOG_START_HZ, logarithmic, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _LINEAR_HZ_PER_MEL
    logarithmic = _LOG_START_HZ * np.exp(_LOG_STEP * (np.maximum(mel, _LOG_START_MEL) - _LOG_START_MEL))
    return np.where(mel >= _LOG_START_MEL, logarithmic, linear)


@functools.cache
def mel_filterbank(
    sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, f_min: float = F_MIN, f_max: float = F_MAX
) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) float32 triangles on Slaney's mel scale, each divided by its width in Hz / 2."""
    bin_hz = np.linspace(0.0, sample_rate / 2.0, 1 + n_fft // 2)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))
    widths = np.diff(edges_hz)
    offsets = edges_hz[:, None] - bin_hz[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    weights = weights.astype(np.float32)
    weights.flags.writeable = False
    return weights


@functools.cache
def _window() -> np.ndarray:
    """Periodic Hann of WINDOW samples, zero-padded (centred) to N_FFT."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WINDOW) / WINDOW)
    left = (N_FFT - WINDOW) // 2
    padded = np.zeros(N_FFT)
    padded[left : left + WINDOW] = window
    padded.flags.writeable = False
    return padded


def _stft_magnitude(signal: np.ndarray) -> np.ndarray:
    """|STFT| as (1 + N_FFT // 2, frames): centred frames, reflect padding, one frame per HOP samples."""
    half = N_FFT // 2
    if signal.size <= half:  # reflect padding needs more samples than the pad; extend with silence
        signal = np.concatenate([signal, np.zeros(half + 1 - signal.size)])
    padded = np.pad(signal, half, mode="reflect")
    count = 1 + (padded.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[:: HOP][:count]
    return np.abs(np.fft.rfft(frames * _window(), axis=1)).T


def melspectrogram(audio_16k: np.ndarray) -> np.ndarray:
    """(80, T) float32 normalised mel frames of a 1-D 16 kHz signal; T = len // 200 + 1."""
    signal = np.asarray(audio_16k, dtype=np.float64).reshape(-1)
    if signal.size == 0:
        raise ValueError("melspectrogram needs at least one sample")
    emphasised = signal.copy()
    emphasised[1:] -= PREEMPHASIS * signal[:-1]
    mel = mel_filterbank() @ _stft_magnitude(emphasised)
    floor = 10.0 ** (MIN_LEVEL_DB / 20.0)
    decibels = 20.0 * np.log10(np.maximum(floor, mel)) - REF_LEVEL_DB
    scaled = 2.0 * MAX_ABS_VALUE * (decibels - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS_VALUE
    return np.clip(scaled, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


def mel_start(seconds: float) -> int:
    """The first mel frame of the window for a video frame ``seconds`` into the audio."""
    # A nudge so that i / fps * 80 lands on the same integer as the official int(i * 80 / fps).
    return int(np.floor(seconds * MEL_FRAMES_PER_SECOND + 1e-6))


def mel_chunk(mel: np.ndarray, start: int) -> np.ndarray:
    """The (80, 16) window from ``start``; past the end the last 16 frames (as Wav2Lip), before 0 the first.

    A spectrogram shorter than 16 frames is padded with silence (-4) at the end.
    """
    if mel.shape[1] < MEL_STEP:
        mel = np.pad(mel, ((0, 0), (0, MEL_STEP - mel.shape[1])), constant_values=-MAX_ABS_VALUE)
    start = min(max(start, 0), mel.shape[1] - MEL_STEP)
    return mel[:, start : start + MEL_STEP]


def video_chunks(mel: np.ndarray, fps: float) -> list[np.ndarray]:
    """Wav2Lip's own chunking of a whole track: windows at int(i * 80 / fps) until one runs past the end."""
    chunks = []
    index = 0
    while True:
        start = int(index * MEL_FRAMES_PER_SECOND / fps)
        if start + MEL_STEP > mel.shape[1]:
            chunks.append(mel_chunk(mel, mel.shape[1]))
            return chunks
        chunks.append(mel[:, start : start + MEL_STEP])
        index += 1
