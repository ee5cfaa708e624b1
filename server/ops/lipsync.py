"""``lipsync``: mouth cues from dialogue, for a rig's shape keys or a comp's curves (``mode: cues``),
and lip-synced plates (``mode: plate``).

Inputs: the job-level buffer ``audio`` (1-D float32 PCM, -1..1, sent once per job)
and one frame message per frame of the shot, with no buffers needed. The frames
are the shot's frame numbers; audio time 0 falls on ``start_frame`` (+ ``offset``).

Params: ``mode`` (``cues``), ``sample_rate`` (Hz, required), ``channels`` (1, or 2
for interleaved stereo, mixed to mono), ``transcript`` (text; aligned to the audio
when given, else phones are recognised), ``fps`` (else the shot's ``fps``),
``start_frame`` (else the first submitted frame), ``offset`` (frames, may be
fractional), ``extended_shapes`` (which of G, H, X the rig has; default ``GHX``),
``sound_file`` (the path written into cue files' metadata), ``format`` (``json``,
``tsv``, ``xml`` or ``dat``: the first result's meta then holds ``cue_file``, the
track in Rhubarb's exact layout) and ``preston_blair`` (Preston Blair names in ``dat``).

Results, per frame: buffer ``mouth_weights`` (9 float32, the weights of A..H, X over
a two-frame window, summing to 1: crossfades for 3D) and meta ``shape`` (the one
shape for 2D, CONSTANT keys) and ``mouth_open`` (0..1). The first result's meta also
carries the whole track: ``cues`` ([start, end, shape] in 1/100 s, Rhubarb's
timeline), ``duration`` (1/100 s), ``method`` (``aligned``, ``recognised`` or
``silence``), ``phones`` ([label, start, end] in seconds) and ``notes`` (the audio
running past the frame range or starting after it, a transcript that did not
match, ...).

Plate mode (``mode: plate``) also takes each frame's ``beauty`` (the plate, scene-linear
RGB or premultiplied RGBA) and returns it lip-synced, with the same per-frame meta and
a ``mouth_matte`` buffer (H, W) where the mouth changed; outside it every pixel is the
input's own. Backends: ``cpu`` (default: the plate's own mouth warped toward each
frame's cue weights on its 68 landmarks) and ``wav2lip`` (a Wav2Lip-compatible model
from the models config role ``lipsync.wav2lip.checkpoint``, driven by the audio).
A frame without a face comes back unchanged with ``face_found`` false and a warning
naming it (meta ``warnings``, listed again in ``done``). Both are in :mod:`framebridge.server.lipsync.plate`.

Errors before any frame moves: a missing, empty, non-finite, too long (30 minutes)
or wrongly shaped track, a bad sample rate, a transcript that is not text, unknown
params or modes, a plate backend without its model files. No cache: cues for a line take a
fraction of its duration, and a plate's frames depend on their neighbours (the face track).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from framebridge.protocol import passes
from framebridge.protocol.errors import InvalidParams, MissingInput

from ..chunks import ChunkRule
from ..lipsync.audio import AudioTrack, FrameClock, check_track, coverage
from ..lipsync.plate import PLATE_BACKENDS
from ..lipsync.plating import MATTE, PlatePlan, plate_results, prepare_plate
from ..lipsync.formats import FORMATS, CueFile, format_for, render
from ..lipsync.phones import recognise, words_of
from ..lipsync.rules import SHAPES, animate, check_extended, frame_shapes, frame_weights, mouth_open
from .base import NO_JOB_BUFFERS, FrameFailure, InputFrame, JobContext, Op, OutputFrame, buffer_spec, check_job_buffers, check_params

__all__ = ["LipsyncOp", "LipsyncPlan", "MODES", "AUDIO"]

MODES = ("cues", "plate")
AUDIO = "audio"
WEIGHTS = "mouth_weights"
_PARAMS: dict[str, type | tuple[type, ...]] = {
    "mode": str, "sample_rate": (int, float), "channels": int, "transcript": str, "fps": (int, float),
    "start_frame": int, "offset": (int, float), "extended_shapes": str, "sound_file": str, "format": str,
    "preston_blair": bool,
}


@dataclass(frozen=True)
class LipsyncPlan:
    track: AudioTrack
    transcript: str | None
    clock: FrameClock
    extended: str
    sound_file: str
    format: str | None
    preston_blair: bool
    plate: PlatePlan | None = None


class LipsyncOp(Op):
    name = "lipsync"
    summary = "Mouth cues (Rhubarb's shapes A-H, X) from a dialogue track: per-frame shapes and weights, and the cue track."

    def describe(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "params": {
                "mode": {"type": "str", "default": "cues", "allowed": list(MODES), "doc": "cues: mouth weights per frame; plate: a lip-synced plate"},
                "sample_rate": {"type": "int", "required": True, "min": 4000, "max": 384000, "units": "Hz"},
                "channels": {"type": "int", "default": 1, "allowed": [1, 2], "doc": "of the audio buffer, interleaved"},
                "transcript": {"type": "str", "default": None, "doc": "the words spoken, for forced alignment"},
                "fps": {"type": "float", "default": None, "min": 1, "max": 240, "units": "frames/s", "doc": "default: the shot's fps"},
                "start_frame": {"type": "int", "default": None, "doc": "the frame the audio starts on; default: the first frame"},
                "offset": {"type": "float", "default": 0.0, "units": "s", "doc": "audio delay"},
                "extended_shapes": {"type": "str", "default": "GHX", "doc": "which of the extended shapes G, H, X to use"},
                "sound_file": {"type": "str", "default": "", "doc": "the name cue files give the sound"},
                "format": {"type": "str", "default": None, "allowed": list(FORMATS), "doc": "a cue file to return in meta.cue_file"},
                "preston_blair": {"type": "bool", "default": False, "doc": "cue files name Preston Blair shapes"},
            },
            "inputs": [buffer_spec(passes.BEAUTY, [3, 4], doc="plate mode: the plate frame; cues mode sends frames without buffers")],
            "job_buffers": [buffer_spec(AUDIO, None, required=True, dtypes=("float32",), shape="(samples,)",
                                        doc="PCM -1..1 at sample_rate (interleaved when channels=2)")],
            "outputs": [buffer_spec(WEIGHTS, None, dtypes=("float32",), shape="(9,)", doc=f"cues mode: weights of {', '.join(SHAPES)}"),
                        buffer_spec(passes.BEAUTY, [3, 4], dtypes=("float32",), doc="plate mode: the lip-synced plate"),
                        buffer_spec(MATTE, [1], dtypes=("float32",), doc="plate mode: where the mouth changed")],
            "meta": {
                "shape": "the frame's mouth shape", "mouth_open": "how open the mouth is, 0..1",
                "face_found": "plate mode: whether a face was found", "warnings": "plate mode: caveats, e.g. no face found",
                "cues": "first result only: [[start, end, shape]] in hundredths of a second",
                "duration": "first result only: the track's length in hundredths of a second",
                "method": "first result only: how phones were found", "phones": "first result only: [[phone, start, end]] in seconds",
                "notes": "first result only: caveats about the track", "fps": "first result only: the frame rate used",
                "start_frame": "first result only", "offset": "first result only", "sound_file": "first result only",
                "extended_shapes": "first result only", "cue_file": "first result only, with format: the cue file's text",
            },
            "backends": {"builtin": {"available": True, "summary": "cues mode"},
                         **{name: backend().describe() for name, backend in PLATE_BACKENDS.items()}},
        }

    def prepare(self, params: dict[str, Any], shot: dict[str, Any], frames: list[int], backend: str | None,
                job_buffers: Mapping[str, np.ndarray] = NO_JOB_BUFFERS) -> LipsyncPlan:
        params = dict(params)
        if params.get("transcript") is None:
            params.pop("transcript", None)
        else:
            words_of(params["transcript"])  # names a transcript that is not text before the generic type check
        check_params(params, _PARAMS)
        check_job_buffers(job_buffers, {AUDIO: "1-D float32 PCM of the dialogue, its rate in sample_rate"})
        mode = params.get("mode", "cues")
        if mode not in MODES:
            raise InvalidParams(f"unknown lipsync mode {mode!r}", details={"allowed": list(MODES)})
        if mode == "cues" and backend not in (None, "builtin"):
            raise InvalidParams(f"lipsync cues have no backend {backend!r}", details={"allowed": ["builtin"]})
        if AUDIO not in job_buffers:
            raise MissingInput("lipsync needs the dialogue as the job-level buffer 'audio'",
                               fix="send it with submit(..., job_buffers={'audio': pcm}) and params sample_rate")
        if "sample_rate" not in params:
            raise InvalidParams("lipsync needs sample_rate (Hz) for its audio", details={"param": "sample_rate"})
        track = check_track(job_buffers[AUDIO], params["sample_rate"], params.get("channels", 1))
        transcript = params.get("transcript")
        fps = params.get("fps", shot.get("fps"))
        if fps is None or isinstance(fps, bool) or not isinstance(fps, (int, float)):
            raise InvalidParams("lipsync needs fps (in params or the shot)", details={"param": "fps"})
        offset = params.get("offset", 0.0)
        if not math.isfinite(offset):
            raise InvalidParams(f"offset must be a finite number of frames, got {offset!r}", details={"param": "offset"})
        clock = FrameClock(float(fps), params.get("start_frame", min(frames)), float(offset))
        cue_format = params.get("format")
        if cue_format is not None:
            cue_format = format_for("", cue_format)
            render(CueFile([], 0), cue_format, fps=clock.fps)  # a Moho .dat refuses frame rates outside 24..100 now
        return LipsyncPlan(track, transcript, clock, check_extended(params.get("extended_shapes", "GHX")),
                           params.get("sound_file", ""), cue_format, params.get("preston_blair", False),
                           prepare_plate(backend) if mode == "plate" else None)

    def chunking(self, plan: LipsyncPlan) -> ChunkRule:
        """Never split: phones are found in the whole track, every closure keeps a frame of the shot, and a plate's
        opened mouth is filled from the most open one so far, its face tracked and smoothed over every earlier frame."""
        return ChunkRule(whole=True)

    def backend_name(self, plan: LipsyncPlan) -> str:
        return plan.plate.backend.name if plan.plate is not None else "builtin"

    def run(self, plan: LipsyncPlan, frames: Iterator[InputFrame], context: JobContext) -> Iterator[OutputFrame | FrameFailure]:
        context.report_stage("recognising phones")
        recognition = recognise(plan.track, plan.transcript)
        cues = animate(recognition.phones, plan.track.duration, plan.extended)
        numbers = list(context.frames)
        shapes = dict(zip(numbers, frame_shapes(cues, plan.clock, numbers, plan.extended)))
        weights = dict(zip(numbers, frame_weights(cues, plan.clock, numbers, plan.extended)))
        openness = dict(zip(numbers, mouth_open(np.array([weights[n] for n in numbers]))))
        track_meta = {
            "cues": [[cue.start, cue.end, cue.shape] for cue in cues],
            "duration": int(math.floor(plan.track.duration * 100 + 1e-6)),
            "method": recognition.method,
            "phones": [[phone.label, round(phone.start, 3), round(phone.end, 3)] for phone in recognition.phones],
            "notes": recognition.notes + coverage(plan.track.duration, numbers, plan.clock),
            "fps": plan.clock.fps, "start_frame": plan.clock.start_frame, "offset": plan.clock.offset,
            "sound_file": plan.sound_file, "extended_shapes": plan.extended,
        }
        if plan.format is not None:
            cue_file = CueFile(cues, track_meta["duration"], plan.sound_file)
            track_meta["cue_file"] = render(cue_file, plan.format, fps=plan.clock.fps, preston_blair=plan.preston_blair)
        metas = {number: {"shape": shapes[number], "mouth_open": round(float(openness[number]), 4)} for number in numbers}
        if plan.plate is not None:
            context.report_stage("lip-syncing the plate")
            times = {number: plan.clock.time(number) for number in numbers}
            results = plate_results(plan.plate, plan.track, plan.clock.fps, frames, times, weights, metas)
        else:
            context.report_stage("cues")
            results = (OutputFrame(frame.number, {WEIGHTS: weights[frame.number]}, metas[frame.number]) for frame in frames)
        first = True
        for result in results:
            if first and isinstance(result, OutputFrame):
                result.meta.update(track_meta)  # the whole track travels once, with the first result
                first = False
            yield result
