"""``restyle``: a frame range restyled by prompt, consistent from frame to frame, reproducible, cached.

Per frame, in submit order: the scene-linear ``beauty`` is encoded to display sRGB;
with ``temporal`` on, the previous restyled frame is warped into this one along the
render's ``motion_backward`` (optical flow when the frame has none), trusted only
where the motion is consistent both ways, the depth agrees and the input kept its
look, and blended with ``temporal_strength`` into the starting image of a generative
backend, or into the output of a filter backend (restyling an already restyled start
would draw ink over ink); a filter that draws layers (the CPU default) has its colour
and its ink lines blended apart, the previous lines darkening only lines the current
frame draws, so none trails behind on a pan. The result goes back to scene-linear with
the input alpha untouched.

Params: ``prompt``, ``negative_prompt``, ``strength`` (0..1), ``seed`` and
``temporal_strength`` (0..1) take one value or keyframes ``{"<frame>": value}``
(numbers interpolate linearly, text and seeds hold); ``guidance_scale``, ``steps``;
``conditions`` ``{name: weight}`` (depth, normal, segmentation, canny, lineart, pose)
for ControlNet backends, taken from a ``control_<name>`` buffer the client sent or
computed from the frame's passes as the ``extract`` op does; ``temporal`` (bool);
``cache`` (bool); any other param belongs to the backend (``look``, ``palette`` for
``cpu``; ``family``, ``mode``, ``loras``, ... for ``diffusers``).

Seeds: frame n uses ``frame_seed(seed at n, n)``, so a frame's noise never depends
on which frames were submitted with it.

Cache rule: a frame's result is stored under a key made of the op version, the
backend and its version (which covers model files), the frame's params, the
digests of all of the frame's input buffers and, with ``temporal`` on, the digest
of the previous frame's restyled result as carried on (its image, or its colour and
line layers) and of the previous frame's motion and depth (they decide what is
warped in). Re-submitting an unchanged shot is served entirely
from the cache. Changing frame k's input recomputes frame k; with ``temporal`` off,
nothing else; with it on, frame k+1 is recomputed if frame k's result changed, and
so on down the shot, so exactly the frames whose inputs or warped-in previous result
changed are recomputed, never the frames before k. A frame that fails breaks the
chain: the next frame starts fresh, as the first frame does. In AnimateDiff mode a
window is one unit: every frame's key covers every input frame of the job.

Keyframe mode (``keyframe_interval``: every Nth submitted frame and the last, or a
list of frames): the backend restyles only those frames and the ``propagate`` op
carries them through the rest of the shot along the render's motion; results then
also carry propagate's ``confidence``. Keyframes are cached as above; every other
frame by propagate's rule, so editing a frame recomputes it and the frames between
the keyframes on either side of it, nothing else.
"""

from __future__ import annotations

import importlib
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import cv2
import numpy as np
import xxhash

from framebridge.protocol import passes
from framebridge.protocol.errors import (
    FrameBridgeError,
    FrameFailed,
    InvalidParams,
    ModelError,
    ShapeMismatch,
)
from framebridge.protocol.passes import shot_depth_range

from ..chunks import ChunkRule
from ..colour import display_to_linear, frames_in, linear_to_display, results_out, unpremultiply, working_space
from ..conditions import DepthRange
from ..restyle.backend import GEOMETRY_PASSES, RestyleBackend, StyleLayers, StyleRequest
from ..restyle.cache import ResultCache, cache_key, default_cache_dir
from ..restyle.cpu import CpuBackend
from ..restyle.schedule import Keyframed, frame_seed
from ..restyle.temporal import (Warp, appearance_weight, blend, blend_layers, clamp_to_neighbourhood, estimate_flow,
                                pack_layers, unpack_layers)
from .base import (NO_JOB_BUFFERS, FrameFailure, InputFrame, JobContext, Op, OutputFrame, buffer_spec, check_job_buffers,
                   frame_beauty)
from .extract import CONDITIONS, ExtractOp, output_name
from .propagate import KEYFRAME, PropagateOp

__all__ = ["RestyleOp", "RestylePlan"]

log = logging.getLogger(__name__)

OP_VERSION = "restyle-2"
# Chosen by benchmarks/seams.py on a panning Blender render, 6 chunks of 8 frames: the seam ratio (warp error into a
# chunk's first frame over the error within chunks) is 1.56 without warm-up, 1.05 after 6 frames, 1.03 (the single
# chain's own) with 3 of them cross-faded; the slowest look (paint at strength 1: 2.66, 1.19, 0.97) needs 6 frames and
# the fade to stay well under 1.25.
TEMPORAL_CHUNKS = ChunkRule(warmup=6, fade=3)
_GENERAL: dict[str, Any] = {
    "prompt": {"type": "str | keyframes", "default": "", "doc": "what the result should look like"},
    "negative_prompt": {"type": "str | keyframes", "default": "", "doc": "what it should not look like"},
    "strength": {"type": "float | keyframes", "default": 0.6, "min": 0.0, "max": 1.0, "doc": "0 keeps the render, 1 the full restyle"},
    "seed": {"type": "int | keyframes", "default": 0, "doc": "mixed with the frame number into each frame's seed"},
    "guidance_scale": {"type": "float", "default": 7.0, "min": 0.0, "max": 50.0, "doc": "how closely a model follows the prompt"},
    "steps": {"type": "int", "default": 20, "min": 1, "max": 200, "doc": "denoising steps of a model backend"},
    "conditions": {"type": "dict[str, float] | list[str]", "default": {}, "allowed": list(CONDITIONS), "doc": "ControlNet conditions with weights 0..2 (a list: weight 1)"},
    "temporal": {"type": "bool", "default": True, "doc": "blend each frame with the previous result warped along motion"},
    "temporal_strength": {"type": "float | keyframes", "default": 0.9, "min": 0.0, "max": 1.0, "doc": "weight of the warped previous result"},
    "depth_tolerance": {"type": "float", "default": 0.05, "min": 0.0, "max": 10.0, "doc": "relative depth change that counts as an occlusion"},
    "cache": {"type": "bool", "default": True, "doc": "reuse results of identical frames and params"},
    "keyframe_interval": {"type": "int | list[int]", "default": None, "min": 1,
                          "doc": "restyle only every Nth frame (and the last) or the listed frames; propagate the rest"},
}
_INPUTS = [
    buffer_spec(passes.BEAUTY, [3, 4], required=True, doc="the render; linear, alpha kept"),
    buffer_spec(passes.MOTION_BACKWARD, [2], doc="temporal: pixels to the previous frame, the beauty's size"),
    buffer_spec(passes.MOTION_FORWARD, [2], doc="temporal: pixels to the next frame, the beauty's size"),
    buffer_spec(passes.DEPTH, [1], doc="temporal occlusion test and the depth condition, the beauty's size"),
    buffer_spec("control_<condition>", [1, 3], doc="a condition image from the host (else made by extract)"),
]
_OUTPUTS = [buffer_spec(passes.BEAUTY, [3, 4], required=True, dtypes=("float32",), doc="restyled, linear, the input's size and alpha")]
_META = {
    "seed": "the seed this frame ran with",
    "key": "the first 16 hex digits of the frame's cache key",
    "cache": "hit, miss or off",
    "motion": "temporal: what the previous frame was warped with, render (motion passes) or optical_flow",
    "coverage": "temporal: fraction of pixels the warped previous frame covers",
}


def _load_diffusers() -> RestyleBackend:
    try:
        module = importlib.import_module("framebridge.server.backends.diffusers_backend")
    except ImportError as error:
        raise ModelError(f"the diffusers backend cannot be imported ({error})",
                         fix="install the model extras: pip install 'framebridge[models]'") from None
    return module.DiffusersBackend()


BACKENDS: dict[str, Callable[[], RestyleBackend]] = {"cpu": CpuBackend, "diffusers": _load_diffusers}


@dataclass
class RestylePlan:
    backend: RestyleBackend
    prompt: Keyframed
    negative_prompt: Keyframed
    strength: Keyframed
    seed: Keyframed
    temporal_strength: Keyframed
    guidance_scale: float
    steps: int
    conditions: dict[str, float]
    temporal: bool
    depth_tolerance: float
    options: dict[str, Any]
    cache: ResultCache | None
    extract: Any = None
    window_mode: bool = False
    fingerprint: dict[str, Any] = field(default_factory=dict)
    keyframes: Any = None  # a propagate plan when only keyframes are restyled


class _Previous:
    """What the next frame needs of the one before it; its display input is encoded only if asked for.

    ``history`` is what is warped into the next frame: the display output, or a layered
    backend's colour and lines (:func:`pack_layers`), as half floats.
    """

    def __init__(self, number: int, beauty: np.ndarray, history: np.ndarray, forward: np.ndarray | None,
                 depth: np.ndarray | None, display_in: np.ndarray | None = None):
        self.number = number
        self.beauty = beauty
        self.history = history
        self.forward = forward
        self.depth = depth
        self.digest = _digest(history)
        self._display_in = display_in

    @property
    def display_in(self) -> np.ndarray:
        if self._display_in is None:
            self._display_in = linear_to_display(unpremultiply(self.beauty))
        return self._display_in


def _digest(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    return f"{array.dtype.str}{list(array.shape)}{xxhash.xxh3_128_hexdigest(memoryview(array).cast('B'))}"


class RestyleOp(Op):
    name = "restyle"
    summary = "Video-to-video restyling by prompt, temporally consistent along render motion vectors, cached per frame."

    def __init__(self, backends: Mapping[str, Callable[[], RestyleBackend]] | None = None, cache_dir: Path | None = None):
        self._factories = dict(backends or BACKENDS)
        self._backends: dict[str, RestyleBackend] = {}
        self._cache_dir = cache_dir
        self._extract = ExtractOp()
        self._propagate = PropagateOp(cache_dir)

    def _backend(self, name: str) -> RestyleBackend:
        if name not in self._factories:
            raise InvalidParams(f"restyle has no backend {name!r}", fix=f"choose one of {', '.join(sorted(self._factories))}",
                                details={"allowed": sorted(self._factories)})
        if name not in self._backends:
            self._backends[name] = self._factories[name]()
        return self._backends[name]

    def describe(self) -> dict[str, Any]:
        backends, params = {}, dict(_GENERAL)
        for name in self._factories:
            try:
                backends[name] = self._backend(name).describe()
            except FrameBridgeError as error:
                backends[name] = {"available": False, "error": str(error), **({"install": error.fix} if error.fix else {})}
            for param, spec in backends[name].get("params", {}).items():
                params.setdefault(param, {**spec, "backends": []})["backends"].append(name)
        return {"summary": self.summary, "params": params, "inputs": _INPUTS, "outputs": _OUTPUTS, "job_buffers": [],
                "meta": _META, "backends": backends, "default_backend": "cpu"}

    def backend_name(self, plan: RestylePlan) -> str:
        return plan.backend.name

    def chunking(self, plan: RestylePlan) -> ChunkRule:
        """Temporal frames chain on the previous result: warm up and fade (:data:`TEMPORAL_CHUNKS`); keyframe mode cuts at
        keyframes as propagate does; an AnimateDiff window is one piece; with ``temporal`` off frames are independent."""
        if plan.window_mode:
            return ChunkRule(whole=True)
        if plan.keyframes is not None:
            return self._propagate.chunking(plan.keyframes)
        return TEMPORAL_CHUNKS if plan.temporal else ChunkRule()

    def prepare(self, params: dict[str, Any], shot: dict[str, Any], frames: list[int], backend: str | None,
                job_buffers: Mapping[str, np.ndarray] = NO_JOB_BUFFERS) -> RestylePlan:
        check_job_buffers(job_buffers, {})
        working_space(shot)  # a shot colour naming an unknown config or space is refused before any frame
        chosen = self._backend(backend or "cpu")
        description = chosen.describe()
        declared = description.get("params", {})
        options = {name: value for name, value in params.items() if name not in _GENERAL}
        unknown = sorted(set(options) - set(declared))
        if unknown:
            raise InvalidParams(f"unknown restyle params {unknown} for the {chosen.name} backend",
                                details={"allowed": sorted(set(_GENERAL) | set(declared))})
        check_options = getattr(chosen, "check_options", None)
        if check_options:
            check_options(options)
        number = (int, float)
        plan = RestylePlan(
            backend=chosen,
            prompt=Keyframed.parse("prompt", params.get("prompt", ""), str, frames, interpolate=False),
            negative_prompt=Keyframed.parse("negative_prompt", params.get("negative_prompt", ""), str, frames, interpolate=False),
            strength=Keyframed.parse("strength", params.get("strength", 0.6), number, frames, interpolate=True, low=0.0, high=1.0),
            seed=Keyframed.parse("seed", params.get("seed", 0), int, frames, interpolate=False, low=0, high=2**63 - 1),
            temporal_strength=Keyframed.parse("temporal_strength", params.get("temporal_strength", 0.9), number, frames,
                                              interpolate=True, low=0.0, high=1.0),
            guidance_scale=float(_scalar(params, "guidance_scale", number, 7.0, 0.0, 50.0)),
            steps=int(_scalar(params, "steps", int, 20, 1, 200)),
            conditions=_conditions(params.get("conditions", {})),
            temporal=bool(_scalar(params, "temporal", bool, True)),
            depth_tolerance=float(_scalar(params, "depth_tolerance", number, 0.05, 0.0, 10.0)),
            options=options,
            cache=ResultCache(self._cache_dir or default_cache_dir(), self.name) if _scalar(params, "cache", bool, True) else None,
            window_mode=options.get("mode") == "animatediff",
        )
        if params.get("keyframe_interval") is not None:
            if plan.window_mode:
                raise InvalidParams("keyframe_interval cannot be combined with AnimateDiff mode")
            plan.keyframes = self._propagate.prepare(
                {"keyframes": _keyframe_frames(params["keyframe_interval"], frames), "depth_tolerance": plan.depth_tolerance,
                 "cache": plan.cache is not None}, shot, frames, None)
        check_conditions = getattr(chosen, "check_conditions", None)
        if plan.conditions and check_conditions:
            check_conditions(sorted(plan.conditions), options)
        if plan.conditions and "conditions" not in description.get("ignores", []):
            plan.extract = self._extract.prepare({"conditions": sorted(plan.conditions), "output_dtype": "float32"},
                                                 shot, frames, "builtin")
        plan.fingerprint = {
            "op": OP_VERSION, "backend": chosen.name, "backend_version": chosen.version,
            "guidance_scale": plan.guidance_scale, "steps": plan.steps, "conditions": plan.conditions,
            "temporal": plan.temporal, "depth_tolerance": plan.depth_tolerance, "options": options,
            "shot": shot if plan.extract is not None else None,
        }
        return plan

    def run(self, plan: RestylePlan, frames: Iterator[InputFrame], context: JobContext) -> Iterator[OutputFrame | FrameFailure]:
        # The shot's working space (e.g. ACEScg) in and out: the code below works in linear Rec.709.
        yield from results_out(self._run_linear(plan, frames_in(frames, context.shot), context), context.shot)

    def _run_linear(self, plan: RestylePlan, frames: Iterator[InputFrame], context: JobContext) -> Iterator[OutputFrame | FrameFailure]:
        context.report_stage(f"loading {plan.backend.name}")
        plan.backend.load()
        context.report_stage("restyling")
        if plan.window_mode:
            yield from self._run_window(plan, list(frames))
            return
        if plan.keyframes is not None:
            yield from self._propagate.run(plan.keyframes, self._restyled_keyframes(plan, frames), context)
            return
        previous: _Previous | None = None
        for frame in frames:
            try:
                self._fix_depth_range(plan, frame)
                chained = previous if plan.temporal and previous is not None and previous.number == frame.number - 1 else None
                output, previous = self._frame(plan, frame, chained)
                yield output
            except Exception as error:
                previous = None
                if not isinstance(error, FrameBridgeError):
                    log.exception("restyle failed on frame %s", frame.number)
                    error = FrameFailed(f"restyle failed on frame {frame.number}: {type(error).__name__}: {error}")
                yield FrameFailure(frame.number, error)

    def _restyled_keyframes(self, plan: RestylePlan, frames: Iterator[InputFrame]) -> Iterator[InputFrame]:
        """The input frames for propagate, each keyframe carrying its restyled look (a keyframe that fails fails the job)."""
        keyframes = set(plan.keyframes.keyframes)
        for frame in frames:
            if frame.number in keyframes:
                self._fix_depth_range(plan, frame)
                output, _ = self._frame(plan, frame, None)
                frame = InputFrame(frame.number, {**frame.buffers, KEYFRAME: output.buffers[passes.BEAUTY][..., :3]})
            yield frame

    def _fix_depth_range(self, plan: RestylePlan, frame: InputFrame) -> None:
        """A computed depth condition needs one range for the job: without one from the host, the first frame's.

        Fixed before any cache lookup and part of every key, so a result never depends on which frames were cached.
        """
        extract = plan.extract
        if extract is None or "depth" not in extract.conditions or extract.depth_range is not None:
            return
        if output_name("depth") in frame.buffers or passes.DEPTH not in frame.buffers:
            return
        measured = shot_depth_range([frame.buffers[passes.DEPTH]])
        if measured is not None:
            extract.depth_range, extract.depth_range_source = DepthRange(*measured), "first_frame"

    def _request(self, plan: RestylePlan, frame: InputFrame, image: np.ndarray) -> StyleRequest:
        number = frame.number
        return StyleRequest(
            number=number, image=image, conditions=self._conditions(plan, frame), prompt=plan.prompt.at(number),
            negative_prompt=plan.negative_prompt.at(number), strength=float(plan.strength.at(number)),
            seed=frame_seed(plan.seed.at(number), number), guidance_scale=plan.guidance_scale, steps=plan.steps,
            condition_weights=dict(plan.conditions), options=dict(plan.options),
            passes={name: frame.buffers[name] for name in GEOMETRY_PASSES if name in frame.buffers},
        )

    def _key(self, plan: RestylePlan, frame: InputFrame, extra: dict[str, Any]) -> str:
        number = frame.number
        depth_range = plan.extract.depth_range if plan.extract is not None else None
        return cache_key({
            **plan.fingerprint, "frame": number, "prompt": plan.prompt.at(number),
            "depth_range": None if depth_range is None else [depth_range.near, depth_range.far],
            "negative_prompt": plan.negative_prompt.at(number), "strength": plan.strength.at(number),
            "seed": plan.seed.at(number), "temporal_strength": plan.temporal_strength.at(number),
            "inputs": {name: _digest(array) for name, array in sorted(frame.buffers.items())}, **extra,
        })

    def _frame(self, plan: RestylePlan, frame: InputFrame, previous: _Previous | None) -> tuple[OutputFrame, _Previous]:
        beauty = frame_beauty(frame)
        _check_passes(frame, beauty.shape[:2])
        if previous is not None and previous.beauty.shape[:2] != beauty.shape[:2]:
            previous = None  # the plate changed size: nothing to warp from
        chain = {}
        if previous is not None:
            chain = {"previous_result": previous.digest,
                     "previous_motion": None if previous.forward is None else _digest(previous.forward),
                     "previous_depth": None if previous.depth is None else _digest(previous.depth)}
        key = self._key(plan, frame, chain)
        meta: dict[str, Any] = {"seed": frame_seed(plan.seed.at(frame.number), frame.number), "key": key[:16]}
        display_in = None
        cached = plan.cache.get(key, ("history", passes.BEAUTY)) if plan.cache else None
        if (cached is not None and cached["history"].shape[:2] == beauty.shape[:2] and cached["history"].ndim == 3
                and cached[passes.BEAUTY].shape == beauty.shape):
            history, result = cached["history"], cached[passes.BEAUTY]
            meta["cache"] = "hit"
        else:
            straight = unpremultiply(beauty)
            display_in = linear_to_display(straight)
            start, warped, weight = display_in, None, None
            if previous is not None:
                warped, weight, motion_meta = self._warp_previous(plan, frame, display_in, previous)
                meta.update(motion_meta)
                if not plan.backend.fuses_output:
                    start = blend(display_in, warped, weight)
            request = self._request(plan, frame, start)
            if plan.backend.draws_layers:
                layers = self._layers(plan, request, display_in.shape)
                if warped is not None:
                    layers = blend_layers(layers, unpack_layers(warped, layers.ink), weight)
                restyled, carried = layers.compose(), pack_layers(layers)
            else:
                restyled = self._restyle(plan, [request], display_in.shape)[0]
                if warped is not None and plan.backend.fuses_output:
                    restyled = blend(restyled, clamp_to_neighbourhood(warped, restyled), weight)
                carried = restyled
            # The next frame warps this half-float copy whether this frame was computed or cached, so both agree.
            history = carried.astype(np.float16)
            result = _recombine(display_to_linear(restyled), beauty, straight, float(plan.strength.at(frame.number)))
            if plan.cache:
                plan.cache.put(key, {"history": history, passes.BEAUTY: result})
            meta["cache"] = "miss" if plan.cache else "off"
        state = _Previous(frame.number, beauty, history, frame.buffers.get(passes.MOTION_FORWARD),
                          frame.buffers.get(passes.DEPTH), display_in)
        return OutputFrame(frame.number, {passes.BEAUTY: result}, meta), state

    def _warp_previous(self, plan: RestylePlan, frame: InputFrame, display_in: np.ndarray,
                       previous: _Previous) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        backward = frame.buffers.get(passes.MOTION_BACKWARD)
        forward = previous.forward
        source = "render"
        if backward is None or backward.shape[:2] != display_in.shape[:2]:
            backward, forward = estimate_flow(display_in, previous.display_in)
            source = "optical_flow"
        motion = Warp(backward)
        valid = motion.consistency(forward, depth=frame.buffers.get(passes.DEPTH), previous_depth=previous.depth,
                                   depth_tolerance=plan.depth_tolerance)
        valid *= appearance_weight(display_in, motion.apply(previous.display_in))
        # Shrunk by 3 pixels, since a restyled pixel depends on its neighbours (an ink line drawn along an edge
        # that has moved away must not be carried on), then feathered so blended and fresh areas meet without a seam.
        valid = cv2.GaussianBlur(cv2.erode(valid, np.ones((7, 7), np.uint8)), (5, 5), 0)
        weight = valid * np.float32(plan.temporal_strength.at(frame.number))
        warped = motion.apply(previous.history.astype(np.float32))
        return warped, weight, {"motion": source, "coverage": round(float(valid.mean()), 4)}

    def _conditions(self, plan: RestylePlan, frame: InputFrame) -> dict[str, np.ndarray]:
        if plan.extract is None:
            return {}
        sent = {name: frame.buffers[output_name(name)] for name in plan.conditions if output_name(name) in frame.buffers}
        missing = {name: None for name in plan.conditions if name not in sent}
        if missing:
            computed, _ = self._extract.extract_frame(plan.extract, frame.buffers, {})
            sent.update({name: computed[output_name(name)] for name in missing})
        return {name: _condition_rgb(image) for name, image in sent.items()}

    def _restyle(self, plan: RestylePlan, requests: list[StyleRequest], shape: tuple[int, ...]) -> list[np.ndarray]:
        outputs = plan.backend.run(requests)
        if len(outputs) != len(requests) or any(np.shape(output) != shape for output in outputs):
            raise ModelError(f"the {plan.backend.name} backend returned {len(outputs)} images of shapes "
                             f"{[np.shape(o) for o in outputs]} for {len(requests)} frames of {shape}")
        return [np.clip(np.asarray(output, dtype=np.float32), 0.0, 1.0) for output in outputs]

    def _layers(self, plan: RestylePlan, request: StyleRequest, shape: tuple[int, ...]) -> StyleLayers:
        layers = plan.backend.run_layers([request])
        if len(layers) != 1 or layers[0].colour.shape != shape or layers[0].lines.shape != shape[:2]:
            raise ModelError(f"the {plan.backend.name} backend returned layers of shapes "
                             f"{[(np.shape(l.colour), np.shape(l.lines)) for l in layers]} for one frame of {shape}")
        return StyleLayers(np.clip(np.asarray(layers[0].colour, dtype=np.float32), 0.0, 1.0),
                           np.clip(np.asarray(layers[0].lines, dtype=np.float32), 0.0, 1.0), layers[0].ink)

    def _run_window(self, plan: RestylePlan, frames: list[InputFrame]) -> Iterator[OutputFrame | FrameFailure]:
        """AnimateDiff mode: the whole job is one window, restyled together and cached as one unit."""
        usable, beauties = [], {}
        for frame in frames:
            try:
                beauties[frame.number] = frame_beauty(frame)
                usable.append(frame)
            except FrameBridgeError as error:
                yield FrameFailure(frame.number, error)
        shot = sorted(self._key(plan, frame, {}) for frame in usable)
        keys = {frame.number: self._key(plan, frame, {"window": shot}) for frame in usable}
        cached = {number: plan.cache.get(key, (passes.BEAUTY,)) if plan.cache else None for number, key in keys.items()}
        if usable and all(entry is not None for entry in cached.values()):
            results = {number: entry[passes.BEAUTY] for number, entry in cached.items()}
            state = "hit"
        else:
            requests = [self._request(plan, frame, linear_to_display(unpremultiply(beauties[frame.number]))) for frame in usable]
            shape = requests[0].image.shape if requests else ()
            restyled = self._restyle(plan, requests, shape)
            results = {frame.number: _recombine(display_to_linear(image), beauties[frame.number],
                                                unpremultiply(beauties[frame.number]), float(plan.strength.at(frame.number)))
                       for frame, image in zip(usable, restyled)}
            for number, result in results.items():
                if plan.cache:
                    plan.cache.put(keys[number], {passes.BEAUTY: result})
            state = "miss" if plan.cache else "off"
        for frame in usable:
            yield OutputFrame(frame.number, {passes.BEAUTY: results[frame.number]},
                              {"cache": state, "seed": frame_seed(plan.seed.at(frame.number), frame.number)})


def _scalar(params: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any,
            low: float | None = None, high: float | None = None) -> Any:
    value = params.get(name, default)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise InvalidParams(f"{name} must be {' or '.join(k.__name__ for k in kinds)}", details={"param": name})
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidParams(f"{name} must be a finite number, got {value}", details={"param": name})
    if low is not None and not low <= value <= high:
        raise InvalidParams(f"{name} must be within {low}..{high}, got {value}", details={"param": name})
    return value


def _keyframe_frames(interval: Any, frames: list[int]) -> list[int]:
    """The frames restyled in keyframe mode: every Nth submitted frame and the last one, or the frames listed."""
    if type(interval) is int and interval >= 1:
        return sorted({*frames[::interval], frames[-1]})
    if isinstance(interval, list) and interval and all(type(number) is int for number in interval):
        outside = sorted(set(interval) - set(frames))
        if outside:
            raise InvalidParams(f"keyframe_interval lists frames {outside} outside the submitted frames")
        return sorted(set(interval))
    raise InvalidParams("keyframe_interval must be a whole number of frames >= 1 or a non-empty list of frame numbers",
                        details={"param": "keyframe_interval"})


def _conditions(value: Any) -> dict[str, float]:
    if isinstance(value, list):
        value = {name: 1.0 for name in value}
    if not isinstance(value, dict) or not all(isinstance(name, str) for name in value):
        raise InvalidParams("conditions must be {name: weight} or a list of names", details={"allowed": list(CONDITIONS)})
    unknown = sorted(set(value) - set(CONDITIONS))
    if unknown:
        raise InvalidParams(f"unknown conditions {unknown}", details={"allowed": list(CONDITIONS)})
    for name, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 2.0:
            raise InvalidParams(f"condition weight for {name!r} must be a number within 0..2", details={"param": "conditions"})
    return {name: float(weight) for name, weight in value.items()}


def _check_passes(frame: InputFrame, size: tuple[int, int]) -> None:
    """Motion and depth passes, when sent, must match the beauty's size and layout."""
    for name, shape in ((passes.MOTION_BACKWARD, (*size, 2)), (passes.MOTION_FORWARD, (*size, 2)), (passes.DEPTH, size)):
        array = frame.buffers.get(name)
        if array is not None and array.shape != shape:
            raise ShapeMismatch(f"frame {frame.number}'s {name} is {list(array.shape)}, the beauty needs {list(shape)}",
                                details={"buffer": name})


def _recombine(restyled: np.ndarray, beauty: np.ndarray, straight: np.ndarray, strength: float) -> np.ndarray:
    """The restyled colour premultiplied again, with the input's alpha untouched.

    What the display range cannot hold (highlights above 1, light where alpha is 0)
    is carried through, faded by ``strength``: at strength 0 the frame comes back as it was.
    """
    result = np.empty(beauty.shape, dtype=np.float32)
    alpha = beauty[..., 3:4] if beauty.shape[2] == 4 else np.float32(1.0)
    beyond = beauty[..., :3] - np.clip(straight, 0.0, 1.0) * alpha
    result[..., :3] = restyled * alpha + beyond * np.float32(1.0 - strength)
    if beauty.shape[2] == 4:
        result[..., 3] = beauty[..., 3]
    return result


def _condition_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    image = image.astype(np.float32) / np.iinfo(image.dtype).max if image.dtype.kind == "u" else image.astype(np.float32)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])
