"""Lip-sync: cue speed on one CPU core, agreement with the synthesiser's own phoneme timing, and plate fps at 1080p.

Sentences are spoken by libespeak-ng (espeakng-loader) with phoneme events; the
ground truth is those phonemes (ARPAbet) through the same Rhubarb rules. For each
sentence the `lipsync` op runs exactly as a job does, with the transcript
(forced alignment) and without it (all-phone recognition), at 24 fps.

Printed: seconds of audio per second of compute (this process's CPU time, so other
load on the machine does not count; goal >= 20x real time) for both
modes, against a baseline measured in the same run (the bare decode: pocketsphinx
over the same PCM with no rules, frames or formats), and the frame agreement and
P/B/M closure figures (goals: >= 85% with transcript, >= 60% without, every
closure an A within one frame), on SENTENCES (which the aligner was tuned on)
and on HELD_OUT (never used for tuning). It writes the picture of one sentence (waveform,
phones, cue tracks) as PNG.

Plate mode: the CPU default plate backend on a 1920x1080 plate (scikit-image's
astronaut scaled to the frame's height, a face of about 450 px) with the cue shapes
cycling, in frames per CPU second (goal >= 5 fps), against a baseline measured in
the same run: tracking the face and fitting its landmarks alone, which every
frame needs whatever is done to the mouth. A second PNG shows the plate's mouth in
each cue shape.

    python benchmarks/lipsync.py [--out benchmarks/out] [--repeat 3] [--plate-frames 48]
"""

from __future__ import annotations

import os

# One core: set before numpy and pocketsphinx start any thread pools.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import argparse
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from framebridge.server.lipsync import phones as phone_module
from framebridge.server.lipsync.audio import AudioTrack, FrameClock
from framebridge.server.lipsync.espeak import synthesise
from framebridge.server.lipsync.picture import draw_cue_track
from framebridge.server.lipsync.rules import animate, frame_shapes
from framebridge.server.ops.base import InputFrame, JobContext
from framebridge.server.ops.lipsync import LipsyncOp

SENTENCES = [
    "Hello world, my big brown bag.",
    "The quick brown fox jumps over the lazy dog.",
    "Please bring me a bottle of milk and some bread.",
    "We were away a year ago.",
    "Maybe Bob paid for the map.",
    "Peter Piper picked a peck of pickled peppers.",
    "Mumbling, the moonlit boatman paddled past the pier.",
    "She sells sea shells by the sea shore.",
    "I would like a cup of coffee with my breakfast.",
    "Every morning the baker opens the shop at seven.",
    "Bring the blue map to the meeting by nine.",
    "My mother made a marvellous plum pie.",
]
# Sentences never used to tune the aligner (lipsync-accuracy tuned on SENTENCES): an honest second measure.
HELD_OUT = [
    "Bright purple balloons floated above the busy market.",
    "Nobody expected the old bridge to open before summer.",
    "Put the warm bread back in the basket, please.",
    "His neighbour painted the fence a pale shade of blue.",
    "We might visit my brother in Boston next month.",
    "A gentle breeze moved through the empty playground.",
    "Remember to pack both maps before the trip.",
    "The pilot smiled and waved from the small plane.",
]
CLOCK = FrameClock(24, 1001)


def run_op(line, transcript: str | None) -> tuple[list[str], float]:
    """Per-frame shapes from the op (as a job runs it) and the seconds it took."""
    op = LipsyncOp()
    frames = CLOCK.frames_for(len(line.samples) / line.sample_rate)
    params = {"sample_rate": line.sample_rate, "fps": CLOCK.fps, "start_frame": CLOCK.start_frame, "format": "json"}
    if transcript:
        params["transcript"] = transcript
    start = time.process_time()
    plan = op.prepare(params, {}, frames, None, {"audio": line.samples})
    results = list(op.run(plan, (InputFrame(n, {}) for n in frames), JobContext("bench", frames, {}, lambda: False)))
    return [result.meta["shape"] for result in results], time.process_time() - start


def bare_decode(line, transcript: str | None) -> float:
    """The baseline: only the recogniser over the same audio."""
    track = AudioTrack(line.samples, line.sample_rate)
    start = time.process_time()
    phone_module.recognise(track, transcript)
    return time.process_time() - start


def closures(truth: list[str], shapes: list[str]) -> tuple[int, int]:
    """(ground-truth closures, those with an A in the cue track within one frame)."""
    starts = [index for index, shape in enumerate(truth) if shape == "A" and (index == 0 or truth[index - 1] != "A")]
    return len(starts), sum("A" in shapes[max(0, index - 1):index + 2] for index in starts)


def ground_truth(line) -> list[str]:
    """The shapes per frame that espeak's own phoneme timing gives under the same rules."""
    duration = AudioTrack(line.samples, line.sample_rate).duration
    return frame_shapes(animate(line.phones, duration), CLOCK, CLOCK.frames_for(duration))


@dataclass
class Agreement:
    """Frames whose cue shape matches the ground truth's, the (truth, cue) shapes of those that do not, and
    ground-truth closures kept, over several lines."""

    agree: int = 0
    frames: int = 0
    closures: int = 0
    kept: int = 0
    confusions: Counter = field(default_factory=Counter)

    def add(self, truth: list[str], shapes: list[str]) -> None:
        self.agree += sum(a == b for a, b in zip(truth, shapes))
        self.frames += len(truth)
        self.confusions.update((a, b) for a, b in zip(truth, shapes) if a != b)
        total, kept = closures(truth, shapes)
        self.closures += total
        self.kept += kept

    def worst(self, count: int = 4) -> str:
        """The most frequent disagreements, as truth->cue and frames."""
        return ", ".join(f"{truth}->{cue} {frames}" for (truth, cue), frames in self.confusions.most_common(count))


def plate_1080p() -> np.ndarray:
    """A 1920x1080 display-referred float plate: the astronaut scaled to the full height, centred."""
    import cv2
    from skimage.data import astronaut

    plate = np.zeros((1080, 1920, 3), np.uint8)
    plate[:, 420:1500] = cv2.resize(astronaut(), (1080, 1080), interpolation=cv2.INTER_CUBIC)
    return plate.astype(np.float32) / 255.0


def plate_fps(count: int) -> tuple[float, float, float]:
    """(plate backend fps, face-tracking-only fps, wall-clock plate fps) over ``count`` frames, CPU time of this process."""
    from framebridge.server.faces import FaceTracker, landmark_provider
    from framebridge.server.lipsync.plate import MouthWarpBackend, PlateFrame

    plate = plate_1080p()
    shapes = "XBCDDCBAAXEFFGHX"
    backend = MouthWarpBackend()
    backend.start(np.zeros(16000, np.float32), 24.0)
    backend.process(PlateFrame(plate, 0, 0.0, {"X": 1.0}))  # the first frame searches the whole image
    start, wall = time.process_time(), time.perf_counter()
    for index in range(count):
        result = backend.process(PlateFrame(plate, index + 1, (index + 1) / 24.0, {shapes[index % len(shapes)]: 1.0}))
        assert result.face_found
    seconds, wall_seconds = time.process_time() - start, time.perf_counter() - wall
    tracker = FaceTracker(landmark_provider())
    tracker.find(plate)
    start = time.process_time()
    for _ in range(count):
        tracker.find(plate)
    return count / seconds, count / (time.process_time() - start), count / wall_seconds


def plate_shapes_picture(path: Path) -> Path:
    """The astronaut's lower face as the CPU plate backend shapes it for each cue shape, side by side, as PNG."""
    import cv2

    from framebridge.server.lipsync.plate import SHAPES, MouthWarpBackend, PlateFrame

    plate = plate_1080p()
    cells = [plate]
    for shape in SHAPES:
        backend = MouthWarpBackend()
        backend.start(np.zeros(16000, np.float32), 24.0)
        cells.append(backend.process(PlateFrame(plate, 1, 0.0, {shape: 1.0})).image)
    crops = []
    for label, image in zip(["plate"] + list(SHAPES), cells):
        crop = np.ascontiguousarray((image[200:440, 770:1010, ::-1] * 255.0 + 0.5).astype(np.uint8))
        cv2.putText(crop, label, (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
        crops.append(cv2.resize(crop, (240, 240), interpolation=cv2.INTER_AREA))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack([np.hstack(crops[:5]), np.hstack(crops[5:])]))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plate-frames", type=int, default=48)
    args = parser.parse_args()
    lines = [synthesise(sentence) for sentence in SENTENCES]
    audio_seconds = sum(len(line.samples) / line.sample_rate for line in lines)
    run_op(lines[0], SENTENCES[0])  # decoders are built once per process; keep that out of the timing
    run_op(lines[0], None)
    print(f"lipsync cues: {len(lines)} sentences, {audio_seconds:.1f} s of speech, 24 fps, one core")
    for mode in ("transcript", "no transcript"):
        op_seconds = baseline_seconds = 0.0
        score = Agreement()
        for sentence, line in zip(SENTENCES, lines):
            transcript = sentence if mode == "transcript" else None
            times = []
            for _ in range(args.repeat):
                shapes, seconds = run_op(line, transcript)
                times.append(seconds)
            op_seconds += min(times)
            baseline_seconds += min(bare_decode(line, transcript) for _ in range(args.repeat))
            score.add(ground_truth(line), shapes)
        print(f"  {mode:>13}: {audio_seconds / op_seconds:6.1f}x real time (goal >= 20x; bare decode "
              f"{audio_seconds / baseline_seconds:.1f}x, op/decode time {op_seconds / baseline_seconds:.2f}); "
              f"frame agreement {score.agree / score.frames:.1%} (goal {'85' if mode == 'transcript' else '60'}%); "
              f"P/B/M closures with an A within one frame {score.kept}/{score.closures}; "
              f"most frequent disagreements (truth->cue, frames): {score.worst()}")
    held_out = [synthesise(sentence) for sentence in HELD_OUT]
    for mode in ("transcript", "no transcript"):
        score = Agreement()
        for sentence, line in zip(HELD_OUT, held_out):
            score.add(ground_truth(line), run_op(line, sentence if mode == "transcript" else None)[0])
        print(f"  held out, {mode:>13}: frame agreement {score.agree / score.frames:.1%} on {len(HELD_OUT)} sentences "
              f"not used for tuning; P/B/M closures with an A within one frame {score.kept}/{score.closures}; "
              f"most frequent disagreements: {score.worst()}")
    line = lines[4]
    track = AudioTrack(line.samples, line.sample_rate)
    recognised = phone_module.recognise(track, SENTENCES[4])
    picture = draw_cue_track(args.out / "lipsync_cue_track.png", line.samples, line.sample_rate, recognised.phones,
                             [("cues", animate(recognised.phones, track.duration)),
                              ("truth", animate(line.phones, track.duration))],
                             title=f'"{SENTENCES[4]}" - aligned phones, cue track, and the cues espeak\'s own timing gives')
    print(f"  picture: {picture}")
    fps, tracking_fps, wall_fps = plate_fps(args.plate_frames)
    print(f"lipsync plate, CPU default, 1920x1080, one core: {fps:.1f} fps (goal >= 5; {wall_fps:.1f} by the wall clock); "
          f"face tracking alone {tracking_fps:.1f} fps, so the mouth edit costs {tracking_fps / fps:.2f}x the tracking")
    print(f"  picture: {plate_shapes_picture(args.out / 'lipsync_plate_shapes.png')}")


if __name__ == "__main__":
    main()
