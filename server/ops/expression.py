"""``expression``: a driving performance moves the face in a plate or a still portrait.

Inputs: per frame, the target ``beauty`` (scene-linear RGB(A)) and the paired
``driving`` frame; or, to animate a still, a job buffer ``source`` given once and no
per-frame beauty. A job buffer ``reference`` is the driving clip's neutral frame when
it is not one of the paired driving frames.

Params (see :data:`~framebridge.server.expression.params.PARAMS`): ``regions``
(``expression``, ``eyes``, ``lips``, ``pose``, ``all``), ``multipliers`` per region,
``relative`` (default; else absolute), ``reference_frame`` (driving-clip numbering,
default its first), ``driving_offset`` (target n pairs with driving n + offset),
``driving_range`` (the driving clip's frames, checked against the pairing),
``smoothing`` (0..1), ``face`` (``largest`` or a point), ``feather`` (fraction of the
face size), ``cache``.

Per frame, in submit order: colour to display; the target face is tracked (once for
a still) and the driver's face tracked, both smoothed over time (One-Euro, in frame
time); the backend moves the face; the op pastes it back through the matte, so every
pixel where ``face_matte`` is 0 is bit-identical to the input, converts back to
linear, carries highlights above the display range along the same warp, and keeps
alpha. Results: ``beauty``, ``face_matte`` (H, W), ``stmap`` (H, W, 2: Nuke's
normalised source position, origin bottom-left); meta holds the target's landmarks
before and after the motion and the driver's, in pixels (x right, y down), plus the
box. A target frame without a face passes through unchanged (identity STMap, empty
matte) with a warning in its meta; a driving frame without a face holds the last good
motion, also with a warning.

Cache rule: a frame's result is stored under a key of the op version, the backend and
its version, the motion params and feather, the digests of the target image, the
driving frame and the reference, and the landmarks actually used (the target's, the
smoothed driver's and the reference's, which carry the smoothing state of earlier
frames). Landmarks are recomputed on every run (they are cheap); the move and the
paste-back are served from the cache when the key matches, so a rerun after an
interruption only computes frames it lacks, and changing a driving frame recomputes
that frame and the frames whose smoothed landmarks it changed.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import xxhash

from framebridge.protocol import passes
from framebridge.protocol.errors import (
    FrameBridgeError,
    FrameFailed,
    InvalidParams,
    MissingInput,
    ModelError,
    NonFiniteValues,
    ShapeMismatch,
)

from ..chunks import ChunkRule
from ..expression.backend import AnimateRequest, ExpressionBackend, FaceState
from ..expression.compose import FACE_MATTE, STMAP, compose, pass_through, to_display
from ..expression.cpu import CpuExpressionBackend
from ..expression.params import PARAMS, ExpressionParams, pair_driving, parse_params
from ..expression.tracks import SmoothedTrack
from ..restyle.cache import ResultCache, cache_key, default_cache_dir
from .base import FrameFailure, InputFrame, JobContext, Op, OutputFrame, buffer_spec, check_job_buffers

__all__ = ["ExpressionOp", "ExpressionPlan", "DRIVING", "SOURCE", "REFERENCE"]

log = logging.getLogger(__name__)

OP_VERSION = "expression-1"
DRIVING, SOURCE, REFERENCE = "driving", "source", "reference"
JOB_BUFFERS = {SOURCE: "a still target image (scene-linear RGB(A)) animated into every frame, instead of per-frame beauty",
               REFERENCE: "the driving clip's neutral frame, when it is not one of the paired driving frames"}
_INPUTS = [buffer_spec(passes.BEAUTY, [3, 4], doc="the target frame, scene-linear (unless the job carries source)"),
           buffer_spec(DRIVING, [3, 4], doc="the driving clip's frame, scene-linear; paired by driving_offset")]
_JOB_BUFFER_SPECS = [buffer_spec(name, [3, 4], doc=text) for name, text in JOB_BUFFERS.items()]
_OUTPUTS = [buffer_spec(passes.BEAUTY, [3, 4], required=True, dtypes=("float32",), doc="the target with the driver's expression"),
            buffer_spec(FACE_MATTE, [1], required=True, dtypes=("float32",), doc="where the face was moved, 0..1"),
            buffer_spec(STMAP, [2], required=True, dtypes=("float32",),
                        doc="Nuke STMap: normalised source position, origin bottom-left")]
_META = {
    "face": "whether a target face was found (else the frame passed through unchanged)",
    "warnings": "caveats for this frame, e.g. no face found",
    "key": "the first 16 hex digits of the frame's cache key",
    "cache": "hit, miss or off",
    "box": "the target face's box in pixels",
    "source_landmarks": "the target's 68 landmarks before the motion, pixels (x right, y down)",
    "driver_landmarks": "the driver's 68 landmarks, pixels",
    "target_landmarks": "the target's landmarks after the motion, pixels",
}


def _load_liveportrait() -> ExpressionBackend:
    try:
        from ..liveportrait.backend import LivePortraitBackend
    except ImportError as error:
        raise ModelError(f"the liveportrait backend cannot be imported ({error})",
                         fix="install the model extras: pip install 'framebridge[models]'") from None
    return LivePortraitBackend()


BACKENDS: dict[str, Callable[[], ExpressionBackend]] = {"cpu": CpuExpressionBackend, "liveportrait": _load_liveportrait}


@dataclass
class ExpressionPlan:
    backend: ExpressionBackend
    params: ExpressionParams
    frames: list[int]
    reference_target_frame: int | None
    source: np.ndarray | None
    reference: np.ndarray | None
    cache: ResultCache | None
    fingerprint: dict[str, Any] = field(default_factory=dict)


def digest(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    return f"{array.dtype.str}{list(array.shape)}{xxhash.xxh3_128_hexdigest(memoryview(array).cast('B'))}"


class ExpressionOp(Op):
    name = "expression"
    summary = "Expression and head-motion transfer from a driving clip onto a plate's face or a still portrait."

    def __init__(self, backends: Mapping[str, Callable[[], ExpressionBackend]] | None = None, cache_dir=None):
        self._factories = dict(backends or BACKENDS)
        self._backends: dict[str, ExpressionBackend] = {}
        self._cache_dir = cache_dir

    def _backend(self, name: str) -> ExpressionBackend:
        if name not in self._factories:
            raise InvalidParams(f"expression has no backend {name!r}", details={"allowed": sorted(self._factories)})
        if name not in self._backends:
            self._backends[name] = self._factories[name]()
        return self._backends[name]

    def describe(self) -> dict[str, Any]:
        backends = {}
        for name in self._factories:
            try:
                backends[name] = self._backend(name).describe()
            except FrameBridgeError as error:
                backends[name] = {"available": False, "error": str(error)}
        return {"summary": self.summary, "params": PARAMS, "inputs": _INPUTS, "job_buffers": _JOB_BUFFER_SPECS,
                "outputs": _OUTPUTS, "meta": _META, "backends": backends, "default_backend": "cpu"}

    def backend_name(self, plan: ExpressionPlan) -> str:
        return plan.backend.name

    def prepare(self, params: dict[str, Any], shot: dict[str, Any], frames: list[int], backend: str | None,
                job_buffers: Mapping[str, np.ndarray]) -> ExpressionPlan:
        check_job_buffers(job_buffers, JOB_BUFFERS)
        parsed = parse_params(params)
        chosen = self._backend(backend or "cpu")
        chosen.check()
        source, reference = (None if job_buffers.get(name) is None else as_float(name, job_buffers[name])
                             for name in (SOURCE, REFERENCE))
        paired = pair_driving(parsed, list(frames), "driving_offset" in params, reference is not None)
        plan = ExpressionPlan(chosen, parsed, list(frames), paired, source, reference,
                              ResultCache(self._cache_dir or default_cache_dir(), self.name) if parsed.cache else None)
        plan.fingerprint = {"op": OP_VERSION, "backend": chosen.name, "backend_version": chosen.version(),
                            **parsed.fingerprint()}
        return plan

    def chunking(self, plan: ExpressionPlan) -> ChunkRule:
        """The One-Euro smoothing carries earlier frames: warm up until a chunk's start state weighs under 5%
        (:func:`smoothing_warmup`); a reference found among the job's frames (no ``reference`` job buffer) is a
        whole-shot dependency."""
        if plan.reference is None:
            return ChunkRule(whole=True)
        return ChunkRule(warmup=smoothing_warmup(plan.params.smoothing))

    def run(self, plan: ExpressionPlan, frames: Iterator[InputFrame], context: JobContext) -> Iterator[OutputFrame | FrameFailure]:
        context.report_stage("finding faces")
        state = _JobState(plan)
        pending: deque[InputFrame] = deque()
        frames = iter(frames)
        if plan.reference is not None:
            state.set_reference(to_display(plan.reference))
        else:
            # The reference driving frame may come later in the job: read ahead to it (bounded by prepare).
            for frame in frames:
                pending.append(frame)
                if frame.number == plan.reference_target_frame:
                    break
            reference_frame = pending[-1] if pending and pending[-1].number == plan.reference_target_frame else None
            if reference_frame is not None and DRIVING in reference_frame.buffers:
                state.set_reference(to_display(as_float(REFERENCE, reference_frame.buffers[DRIVING])))
        context.report_stage("animating")

        def ordered() -> Iterator[InputFrame]:
            while pending:
                yield pending.popleft()
            yield from frames

        for frame in ordered():
            try:
                yield state.frame(frame)
            except Exception as error:
                if not isinstance(error, FrameBridgeError):
                    log.exception("expression failed on frame %s", frame.number)
                    error = FrameFailed(f"expression failed on frame {frame.number}: {type(error).__name__}: {error}")
                yield FrameFailure(frame.number, error)


class _JobState:
    """The per-job memory of a run: trackers, smoothing, the still source's face, the reference face."""

    def __init__(self, plan: ExpressionPlan):
        self.plan = plan
        strength = plan.params.smoothing
        self.target = SmoothedTrack(strength, point=plan.params.face_point)
        self.driving = SmoothedTrack(strength)
        self.reference: FaceState | None = None
        self.reference_image: np.ndarray | None = None
        self.reference_digest = ""
        self.source = None
        if plan.source is not None:
            display = to_display(plan.source)
            self.source = _Target(plan.source, display, self.target.detect_once(display), digest(plan.source))

    def set_reference(self, display: np.ndarray) -> None:
        self.reference_image = display
        self.reference_digest = digest(display)
        self.reference = self.driving.detect_once(display)

    def frame(self, frame: InputFrame) -> OutputFrame:
        plan = self.plan
        warnings: list[str] = []
        if plan.source is not None and passes.BEAUTY in frame.buffers:
            raise InvalidParams(f"frame {frame.number} has a beauty buffer and the job a source image: send one of them",
                                fix="send per-frame beauty to move a plate's face, or a job buffer 'source' to animate a still",
                                details={"buffers": sorted(frame.buffers)})
        if self.source is not None:
            target = self.source
        else:
            linear = _image(frame, passes.BEAUTY, "send the plate frame as 'beauty', or a still as the job buffer 'source'")
            display = to_display(linear)
            target = _Target(linear, display, self.target.follow(display, frame.number), digest(linear))
        driving_linear = _image(frame, DRIVING, "send the paired driving clip frame as 'driving' with every frame")
        driving_display = to_display(driving_linear)
        driving_face = self.driving.follow(driving_display, frame.number)
        if driving_face is None:
            driving_face = self.driving.held
            warnings.append(f"no face in the driving frame paired with frame {frame.number}: holding the last motion")
        if self.reference is None and driving_face is not None:
            # No face in the reference: the first driving face seen becomes the neutral one.
            self.reference_image, self.reference = driving_display, driving_face
            self.reference_digest = digest(driving_display)
            warnings.append("no face in the reference driving frame: the first driving face found is the reference")
        if target.face is None:
            warnings.append(f"no face in frame {frame.number}: passed through unchanged")
            return pass_through(frame.number, target.linear, warnings)
        if driving_face is None:
            driving_face = self.reference
        if driving_face is None:
            warnings.append(f"no driving face yet at frame {frame.number}: passed through unchanged")
            return pass_through(frame.number, target.linear, warnings)
        request = AnimateRequest(
            target=target.display, target_face=target.face, driving=driving_display, driving_face=driving_face,
            reference=self.reference_image, reference_face=self.reference, source_key=target.digest,
            motion=plan.params.motion, feather=plan.params.feather)
        key = cache_key({**plan.fingerprint, "target": target.digest, "driving": digest(driving_linear),
                         "reference": self.reference_digest, "landmarks": [_rounded(face.landmarks) for face in
                                                                          (target.face, driving_face, self.reference)]})
        return compose(frame.number, plan.backend, request, target.linear, plan.cache, key, warnings)


def smoothing_warmup(strength: float, left: float = 0.05) -> int:
    """Frames after which a still landmark's One-Euro state keeps less than ``left`` of where it started."""
    if strength <= 0.0:
        return 0
    keep = 1.0 - 1.0 / (1.0 + 1.0 / (2.0 * math.pi * 0.5 * 10.0 ** (-2.0 * strength)))  # filter_for_strength's min cutoff
    return math.ceil(math.log(left) / math.log(keep))


@dataclass(frozen=True)
class _Target:
    linear: np.ndarray
    display: np.ndarray
    face: FaceState | None
    digest: str


def _rounded(landmarks: np.ndarray) -> list[float]:
    return np.round(np.asarray(landmarks, np.float64), 3).ravel().tolist()


def as_float(name: str, image: np.ndarray) -> np.ndarray:
    """An (H, W, 3|4) image buffer as float32 (integer images scaled to 0..1), refusing other shapes and NaN."""
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ShapeMismatch(f"{name} must be an (H, W, 3) or (H, W, 4) image, got {list(image.shape)}",
                            details={"buffer": name})
    if image.dtype.kind == "f":
        if not np.isfinite(image).all():
            raise NonFiniteValues(f"{name} has NaN or infinite pixels", fix="clamp or fix the image before sending",
                                  details={"buffer": name})
        return np.asarray(image, np.float32)
    return image.astype(np.float32) / np.iinfo(image.dtype).max


def _image(frame: InputFrame, name: str, fix: str) -> np.ndarray:
    image = frame.buffers.get(name)
    if image is None:
        raise MissingInput(f"frame {frame.number} has no {name} buffer (it has {sorted(frame.buffers) or 'none'})",
                           fix=fix, details={"buffer": name})
    return as_float(f"frame {frame.number}'s {name}", image)
