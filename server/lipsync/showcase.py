"""The demo's lip-sync stage: speak a line with espeak-ng, get its cues from a server, draw them under the waveform."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framebridge.protocol.client import Client, ResultEvent
from framebridge.protocol.errors import FrameBridgeError
from framebridge.protocol.files import atomic_path

from .audio import FrameClock
from .espeak import synthesise
from .phones import Phone
from .picture import draw_cue_track
from .rules import Cue

__all__ = ["LINE", "LipsyncShowcase", "speak_and_sync"]

LINE = "Maybe Bob paid for the map, then mumbled a plump apology."


@dataclass(frozen=True)
class LipsyncShowcase:
    wav: Path
    cue_file: Path
    picture: Path
    cues: int
    method: str
    frames: int


def speak_and_sync(client: Client, folder: Path, *, fps: float = 24.0, start_frame: int = 1001) -> LipsyncShowcase:
    """Write line.wav, its Rhubarb JSON cues from the server's lipsync op, and the cue-track picture into ``folder``."""
    import soundfile

    line = synthesise(LINE)
    folder.mkdir(parents=True, exist_ok=True)
    wav = folder / "line.wav"
    with atomic_path(wav) as temporary:
        soundfile.write(str(temporary), line.samples, line.sample_rate, format="WAV")
    clock = FrameClock(fps, start_frame)
    frames = clock.frames_for(len(line.samples) / line.sample_rate)
    params = {"sample_rate": line.sample_rate, "fps": fps, "start_frame": start_frame, "transcript": LINE,
              "format": "json", "sound_file": str(wav)}
    job = client.submit("lipsync", frames, lambda number: {}, params=params, job_buffers={"audio": line.samples},
                        keep_results=False)
    track = None
    for event in job:
        if isinstance(event, ResultEvent) and "cues" in event.meta:
            track = event.meta
    if track is None:
        raise job.error or FrameBridgeError("the lipsync op returned no cue track")
    cue_file = folder / "line.json"
    with atomic_path(cue_file) as temporary:
        temporary.write_text(track["cue_file"], encoding="utf-8")
    phones = [Phone(label, start, end) for label, start, end in track["phones"]]
    cues = [Cue(start, end, shape) for start, end, shape in track["cues"]]
    picture = draw_cue_track(folder / "cue_track.png", np.asarray(line.samples), line.sample_rate, phones,
                             [("cues", cues)], title=f'"{LINE}" ({track["method"]}, {fps:g} fps from frame {start_frame})')
    return LipsyncShowcase(wav, cue_file, picture, len(cues), track["method"], len(frames))
