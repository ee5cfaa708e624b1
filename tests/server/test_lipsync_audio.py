"""Audio in: file reading, wire-track checks with typed errors, resampling, audio time to frames."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from framebridge.protocol.errors import AudioError, InvalidParams, NonFiniteValues, ShapeMismatch
from framebridge.server.lipsync.audio import AudioTrack, FrameClock, check_track, coverage, read_audio, resample


def tone(seconds: float = 0.5, rate: int = 48000) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".aiff"])
def test_read_audio_mixes_stereo_files_to_mono_at_their_own_rate(tmp_path, suffix):
    left, right = tone(0.25, 44100), np.zeros(11025, np.float32)
    path = tmp_path / f"line{suffix}"
    soundfile.write(str(path), np.stack([left, right], axis=1), 44100, subtype="PCM_24")
    track = read_audio(path)
    assert track.sample_rate == 44100 and track.samples.ndim == 1
    np.testing.assert_allclose(track.samples, left / 2, atol=1e-5)


def test_read_audio_names_a_missing_or_unreadable_file(tmp_path):
    with pytest.raises(AudioError, match="no audio file"):
        read_audio(tmp_path / "missing.wav")
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(AudioError, match="not a readable audio file"):
        read_audio(tmp_path / "text.wav")


def test_interleaved_stereo_is_mixed_when_declared():
    stereo = np.array([1.0, 0.0, 0.5, 0.5], np.float32)
    assert check_track(stereo, 8000, channels=2).samples.tolist() == [0.5, 0.5]


@pytest.mark.parametrize("samples, rate, channels, error, message", [
    (np.array([0.0, np.nan], np.float32), 16000, 1, NonFiniteValues, "NaN"),
    (np.zeros(0, np.float32), 16000, 1, AudioError, "empty"),
    (np.zeros(100, np.float32), 0, 1, InvalidParams, "sample_rate"),
    (np.zeros(100, np.float32), 3_000_000, 1, InvalidParams, "sample_rate"),
    (np.zeros(100, np.float32), True, 1, InvalidParams, "sample_rate"),
    (np.zeros(8000 * 7200, np.float32), 8000, 1, AudioError, "limit is 30 minutes"),
    (np.zeros((100, 2), np.float32), 16000, 1, ShapeMismatch, "mono"),
    (np.zeros(101, np.float32), 16000, 2, ShapeMismatch, "even number"),
    (np.zeros(100, np.float32), 16000, 3, InvalidParams, "channels"),
])
def test_unusable_tracks_are_refused_with_a_typed_error(samples, rate, channels, error, message):
    with pytest.raises(error, match=message):
        check_track(samples, rate, channels)


def test_resample_keeps_duration_and_pitch():
    track = resample(AudioTrack(tone(1.0, 48000), 48000), 16000)
    assert track.sample_rate == 16000 and len(track.samples) == 16000
    spectrum = np.abs(np.fft.rfft(track.samples))
    assert abs(np.argmax(spectrum) - 220) <= 1


def test_frame_clock_maps_audio_time_to_frames_with_start_and_sub_frame_offset():
    clock = FrameClock(24, 1001, 0.5)
    assert clock.frame(0.0) == 1001.5
    assert clock.time(1001.5) == 0.0
    assert clock.frames_for(1.0) == list(range(1001, 1025 + 1))
    with pytest.raises(InvalidParams, match="fps"):
        FrameClock(0, 1)


def test_coverage_says_when_audio_and_frames_do_not_line_up():
    clock = FrameClock(24, 1)
    assert coverage(1.0, list(range(1, 25)), clock) == []
    notes = coverage(1.0, list(range(1, 13)), clock)
    assert any("past frame 12" in note for note in notes)
    notes = coverage(1.0, list(range(-5, 40)), clock)
    assert any("before the audio starts" in note for note in notes) and any("later frames hold" in note for note in notes)
