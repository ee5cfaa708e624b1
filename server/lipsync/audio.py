"""Audio in: read a dialogue file, check a track sent over the wire, resample, and map audio time to frames.

A track travels as one job-level buffer ``audio`` (1-D float32 PCM, -1..1) with
``sample_rate`` (and ``channels``, 1 unless interleaved stereo was sent) in the
params. Every check here raises a typed error naming what was wrong, so a bad
track is refused before any recogniser runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framebridge.protocol.errors import AudioError, InvalidParams, NonFiniteValues, ShapeMismatch

__all__ = ["AudioTrack", "FrameClock", "MAX_SECONDS", "MIN_RATE", "MAX_RATE", "check_track", "read_audio",
           "resample", "coverage"]

MIN_RATE = 4000
MAX_RATE = 384000
MAX_SECONDS = 30 * 60.0
READABLE = (".wav", ".flac", ".aif", ".aiff", ".ogg")


@dataclass(frozen=True)
class AudioTrack:
    """Mono PCM, float32 in -1..1, and its sample rate in Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def check_track(samples: np.ndarray, sample_rate: object, channels: object = 1) -> AudioTrack:
    """Validate a received track and mix it to mono; raise a typed error for anything unusable."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)) or not math.isfinite(sample_rate):
        raise InvalidParams(f"sample_rate must be a number of Hz, not {sample_rate!r}", details={"param": "sample_rate"})
    if not MIN_RATE <= sample_rate <= MAX_RATE or sample_rate != int(sample_rate):
        raise InvalidParams(f"sample_rate {sample_rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz",
                            fix="send the file's own rate, e.g. 48000", details={"param": "sample_rate"})
    if isinstance(channels, bool) or channels not in (1, 2):
        raise InvalidParams(f"channels must be 1 or 2, not {channels!r}", details={"param": "channels"})
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ShapeMismatch(f"the audio buffer has shape {list(samples.shape)}; it must be 1-D PCM "
                            f"({'interleaved ' if channels == 2 else ''}{'stereo' if channels == 2 else 'mono'} "
                            "as declared by channels)",
                            fix="mix to mono, or send interleaved samples with channels=2", details={"buffer": "audio"})
    if samples.dtype != np.float32:
        raise ShapeMismatch(f"the audio buffer is {samples.dtype}; it must be float32 PCM", details={"buffer": "audio"})
    if channels == 2:
        if len(samples) % 2:
            raise ShapeMismatch(f"interleaved stereo needs an even number of samples, got {len(samples)}",
                                details={"buffer": "audio"})
        samples = samples.reshape(-1, 2).mean(axis=1, dtype=np.float32)
    if len(samples) == 0:
        raise AudioError("the audio track is empty (0 samples)", fix="send the dialogue's PCM samples")
    rate = int(sample_rate)
    duration = len(samples) / rate
    if duration > MAX_SECONDS:
        raise AudioError(f"the audio track is {duration / 60:.1f} minutes long; the limit is {MAX_SECONDS / 60:.0f} minutes",
                         fix="split the dialogue into shots and send each shot's lines", details={"seconds": duration})
    if not np.isfinite(samples).all():
        bad = int(np.flatnonzero(~np.isfinite(samples))[0])
        raise NonFiniteValues(f"the audio track has NaN or infinite samples (first at {bad / rate:.3f} s)",
                              details={"buffer": "audio", "sample": bad})
    return AudioTrack(np.ascontiguousarray(samples, dtype=np.float32), rate)


def read_audio(path: str | Path) -> AudioTrack:
    """A WAV/FLAC/AIFF/OGG file as a mono track at its own rate (channels averaged)."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"no audio file at {path}", fix="check the path")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise AudioError(f"{path} is not a readable audio file ({error})",
                         fix=f"use one of {', '.join(READABLE)}") from None
    return check_track(data.mean(axis=1, dtype=np.float32), rate)


def resample(track: AudioTrack, rate: int) -> AudioTrack:
    """The track at ``rate`` Hz (soxr, high quality); the same track when the rate already matches."""
    if track.sample_rate == rate:
        return track
    import soxr

    samples = soxr.resample(track.samples, track.sample_rate, rate, quality="HQ")
    return AudioTrack(np.ascontiguousarray(samples, dtype=np.float32), rate)


@dataclass(frozen=True)
class FrameClock:
    """Audio time <-> frame numbers: frame ``start_frame`` begins ``offset`` frames into the audio's start.

    ``offset`` is a sub-frame (or whole-frame) shift: +0.5 makes the audio start half a
    frame later in the shot.
    """

    fps: float
    start_frame: int = 1
    offset: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and 1.0 <= self.fps <= 240.0):
            raise InvalidParams(f"fps must be within 1..240, got {self.fps!r}", details={"param": "fps"})
        if not math.isfinite(self.offset):
            raise InvalidParams(f"offset must be a finite number of frames, got {self.offset!r}")

    def time(self, frame: float) -> float:
        """Seconds into the audio at the start of ``frame``."""
        return (frame - self.start_frame - self.offset) / self.fps

    def frame(self, seconds: float) -> float:
        """The (fractional) frame at ``seconds`` into the audio."""
        return seconds * self.fps + self.start_frame + self.offset

    def frames_for(self, duration: float) -> list[int]:
        """Every frame that shows part of an audio track of ``duration`` seconds."""
        first = math.floor(self.frame(0.0))
        last = math.ceil(self.frame(duration)) - 1
        return list(range(first, max(first, last) + 1))


def coverage(duration: float, frames: list[int], clock: FrameClock) -> list[str]:
    """What the user should know when the audio and the frame range do not line up."""
    if not frames:
        return []
    notes = []
    start, end = clock.time(min(frames)), clock.time(max(frames) + 1)
    if clock.time(min(frames) + 1) <= 0:
        notes.append(f"frames {min(frames)}..{math.ceil(clock.frame(0.0)) - 1} come before the audio starts: mouth at rest (X)")
    if clock.time(max(frames)) >= duration:
        notes.append(f"the audio ends at frame {clock.frame(duration):.2f}; later frames hold the rest shape (X)")
    if start > 0:
        notes.append(f"the audio starts {start:.2f} s before frame {min(frames)}: that part is not in the frame range")
    if end < duration - 1e-9:
        notes.append(f"the audio runs {duration - end:.2f} s past frame {max(frames)}: that part is not in the frame range")
    return notes
