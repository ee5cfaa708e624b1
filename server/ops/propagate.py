"""``propagate``: a few painted or generated keyframes carried through the whole shot along the render's motion.

Inputs per frame: ``beauty`` (whose alpha the result keeps), ``motion_backward``
and ``motion_forward`` (DIS optical flow stands in where a frame has none,
unless ``optical_flow`` is off), and where present ``depth`` and
``object_index``. Keyframes, in the render's colour space (scene-linear RGB,
premultiplied like the render): a job-level buffer ``keyframe_<frame>`` each, or
a per-frame buffer ``keyframe`` sent with the frames listed in the ``keyframes``
param.

Each keyframe is carried forward to the next keyframe and backward to the
previous one (:mod:`..propagate.chain`: coordinates composed along the motion,
the keyframe sampled once, so long spans do not blur), trusted only where the
motion is consistent both ways, the depth agrees and the object id matches.
Between two keyframes the two looks are blended by temporal distance and trust;
what neither saw (disocclusions, new objects) is filled by guided synthesis from
each of the two keyframes (:mod:`..propagate.synthesis`: same object, similar
patch), blended by temporal distance the same way.

Results per frame: ``beauty`` (linear RGB and the input's alpha; a keyframe's
own frame is the keyframe) and ``confidence`` (H, W, 3) float32: trust 0..1 (1 on
a keyframe, halving every ``halflife`` frames away, 0 where synthesised), the
distance in frames to the nearest keyframe that saw the pixel (-1: none did),
and the synthesised share 0..1.

Frames between two keyframes are held until the later keyframe arrives (memory:
about 40 bytes per pixel per held frame: its render, depth and ids, and its guides
and forward chain at the working size; keyframes are sampled at full size only
when a frame is finished, never for a cache hit); frames after the last keyframe
stream.
Frames must come in ascending order; motion links only consecutive numbers, so a
gap starts new chains.

Threads: frames are finished (keyframes sampled, blended, filled) on a pool of
``threads`` (the server's setting: ``serve --propagate-threads``, or
``$FRAMEBRIDGE_PROPAGATE_THREADS``, else every core the process may use; the
per-pixel work runs in compiled kernels that release the GIL); the chains are
traced there too while the next frames are read, each by one pool task that
takes its steps one after the other (so no thread waits for a step while another
chain could be traced), and while a backward chain is traced the frames it has
reached are finished, from the last (at most twice ``threads`` of them then wait
to be returned).
Results come back in the order they would one at a time; at most ``threads``
are being made at once, and reading waits while more than twice that are due.
The result is the same bytes for any thread count.

Params: ``keyframes`` (frames sending a ``keyframe`` buffer), ``depth_tolerance``
(0.05, relative), ``optical_flow`` (true), ``halflife`` (12 frames), ``cache`` (true).

Cache rule: frame n's result is stored under a key of the op version, the params,
and the digests of the keyframes that bracket it and of every input frame
between them (only those before it, after the last keyframe; only those after
it, before the first). Re-running an unchanged shot is served from the cache;
editing keyframe k recomputes exactly the frames between the keyframes on either
side of k, and k itself.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import cv2
import numpy as np

from framebridge.protocol import passes
from framebridge.protocol.buffers import digest
from framebridge.protocol.errors import FrameBridgeError, InvalidParams, MissingInput, NonFiniteValues, ShapeMismatch

from ..chunks import ChunkRule
from ..propagate.assemble import Side, assemble, blend_fill
from ..propagate.chain import Chain, Guides, KeyView, start_chain, step_chain, trust
from ..propagate.shot import ShotFrame, digests, link_motion, read_shot_frame
from ..propagate.synthesis import Holes, KeySample, StyleModel
from ..restyle.cache import ResultCache, cache_key, default_cache_dir
from .base import NO_JOB_BUFFERS, FrameFailure, InputFrame, JobContext, Op, OutputFrame, buffer_spec, check_params

__all__ = ["PropagateOp"]

OP_VERSION = "propagate-1"
KEYFRAME = "keyframe"
CONFIDENCE = "confidence"
THREADS_ENV = "FRAMEBRIDGE_PROPAGATE_THREADS"
_JOB_KEYFRAME = re.compile(r"^keyframe_(-?\d+)$")
_PARAMS = {"keyframes": list, "depth_tolerance": (int, float), "optical_flow": bool, "halflife": (int, float),
           "cache": bool}


@dataclass
class PropagatePlan:
    frames: list[int]
    keyframes: list[int]                 # every keyframe, ascending
    job_keyframes: Mapping[str, np.ndarray]
    depth_tolerance: float
    optical_flow: bool
    halflife: float
    cache: ResultCache | None
    fingerprint: dict[str, Any]
    threads: int = 1
    temporal: bool = True  # every frame depends on the frames between it and its keyframes


class PropagateOp(Op):
    name = "propagate"
    summary = "Carry painted or generated keyframes through the shot along the render's motion, occlusion-aware, filling what no keyframe saw."

    def __init__(self, cache_dir=None, threads: int | None = None):
        self._cache_dir = cache_dir
        self._threads = threads

    def describe(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "params": {
                "keyframes": {"type": "list[int]", "default": [], "doc": "frames that send a per-frame `keyframe` buffer"},
                "depth_tolerance": {"type": "float", "default": 0.05, "min": 0.0, "max": 10.0,
                                    "doc": "relative depth change that counts as an occlusion"},
                "optical_flow": {"type": "bool", "default": True, "doc": "DIS optical flow for frames without motion vectors"},
                "halflife": {"type": "float", "default": 12.0, "min": 0.5, "max": 10000.0, "units": "frames",
                             "doc": "distance over which a keyframe's trust halves"},
                "cache": {"type": "bool", "default": True, "doc": "reuse results of identical frames, keyframes and params"},
            },
            "inputs": [
                buffer_spec(passes.BEAUTY, [3, 4], required=True, doc="the render"),
                buffer_spec(passes.MOTION_BACKWARD, [2], doc="recommended: pixels to the previous frame"),
                buffer_spec(passes.MOTION_FORWARD, [2], doc="recommended: pixels to the next frame"),
                buffer_spec(passes.DEPTH, [1], doc="occlusion test"),
                buffer_spec(passes.OBJECT_INDEX, [1], doc="keeps fills within objects"),
                buffer_spec(KEYFRAME, [3, 4], doc="on the frames listed in keyframes: the painted frame, scene-linear"),
            ],
            "job_buffers": [buffer_spec("keyframe_<frame>", [3, 4], doc="a keyframe for frame <frame>, scene-linear like the render")],
            "outputs": [
                buffer_spec(passes.BEAUTY, [3, 4], required=True, dtypes=("float32",), doc="the propagated frame"),
                buffer_spec(CONFIDENCE, [3], required=True, dtypes=("float32",),
                            doc="trust, distance in frames to the nearest keyframe, synthesised share"),
            ],
            "meta": {
                "cache": "hit, miss, off, or keyframe (a keyframe returned as painted)",
                "keyframes": "the keyframes this frame was made from",
                "synthesised": "fraction of pixels no keyframe saw (filled)",
            },
            "backends": ["builtin"],
        }

    def prepare(self, params: dict[str, Any], shot: dict[str, Any], frames: list[int], backend: str | None,
                job_buffers: Mapping[str, np.ndarray] = NO_JOB_BUFFERS) -> PropagatePlan:
        check_params(params, _PARAMS)
        if backend not in (None, "builtin"):
            raise InvalidParams(f"propagate has no backend {backend!r}", details={"allowed": ["builtin"]})
        if frames != sorted(frames):
            raise InvalidParams("propagate needs its frames in ascending order", fix="submit the frame range in order")
        sent = params.get("keyframes", [])
        if not all(type(number) is int for number in sent):
            raise InvalidParams("keyframes must be a list of frame numbers")
        job_keyframes: dict[int, np.ndarray] = {}
        for name, array in job_buffers.items():
            match = _JOB_KEYFRAME.match(name)
            if not match:
                raise InvalidParams(f"propagate takes job-level buffers named keyframe_<frame>, not {name!r}",
                                    details={"buffers": [name], "allowed": ["keyframe_<frame>"]})
            job_keyframes[int(match.group(1))] = _check_keyframe(name, array, shot)
        both = sorted(set(sent) & set(job_keyframes))
        if both:
            raise InvalidParams(f"keyframes {both} are sent both per frame and with the job", fix="send each keyframe once")
        keyframes = sorted(set(sent) | set(job_keyframes))
        if not keyframes:
            raise InvalidParams("propagate needs at least one keyframe",
                                fix="send keyframe_<frame> buffers with the job, or `keyframe` buffers with the frames listed in `keyframes`")
        outside = [number for number in keyframes if number not in set(frames)]
        if outside:
            raise InvalidParams(f"keyframes {outside} are outside the submitted frames", details={"keyframes": outside})
        depth_tolerance = _number(params, "depth_tolerance", 0.05, 0.0, 10.0)
        halflife = _number(params, "halflife", 12.0, 0.5, 10000.0)
        optical_flow = bool(params.get("optical_flow", True))
        cache = ResultCache(self._cache_dir or default_cache_dir(), self.name) if params.get("cache", True) else None
        return PropagatePlan(
            frames=list(frames), keyframes=keyframes,
            job_keyframes={str(number): array for number, array in job_keyframes.items()},
            depth_tolerance=depth_tolerance, optical_flow=optical_flow, halflife=halflife, cache=cache,
            threads=self._threads or default_threads(),
            fingerprint={"op": OP_VERSION, "depth_tolerance": depth_tolerance, "optical_flow": optical_flow,
                         "halflife": halflife},
        )

    def run(self, plan: PropagatePlan, frames: Iterator[InputFrame], context: JobContext) -> Iterator[OutputFrame | FrameFailure]:
        return _Propagation(plan, context).run(frames)

    def chunking(self, plan: PropagatePlan) -> ChunkRule:
        """Nothing crosses a keyframe, so chunks start at keyframes; a chunk runs the next keyframe too (``tail``),
        which its last frames blend with."""
        return ChunkRule(tail=1, breaks=tuple(plan.keyframes))


class _Propagation:
    """One job's walk through the shot: forward chains as frames arrive, backward ones when a keyframe closes a span."""

    def __init__(self, plan: PropagatePlan, context: JobContext):
        self.plan = plan
        self.keys = set(plan.keyframes)
        self.looks: dict[int, np.ndarray] = {}          # keyframe number -> its look (linear RGB), once arrived
        self.key_frames: dict[int, ShotFrame] = {}
        self.key_digests: dict[int, str] = {int(number): digest(array) for number, array in plan.job_keyframes.items()}
        self.frame_digests: dict[int, dict[str, str]] = {}
        self.models: dict[int, Future] = {}             # keyframe number -> its StyleModel, perhaps still being built
        self.held: list[ShotFrame] = []
        self.previous: ShotFrame | None = None
        self.chain: tuple[int, Future] | None = None     # forward chain from the latest keyframe (its number, the chain)
        self.size: tuple[int, int] | None = None
        self.pool = ThreadPoolExecutor(plan.threads, thread_name_prefix="propagate") if plan.threads > 1 else None
        self.forward_steps = _Serial(self.pool)          # the forward chains' steps, one after the other
        self.due: deque[_Due] = deque()                  # results in the order they are returned

    def run(self, frames: Iterator[InputFrame]) -> Iterator[OutputFrame | FrameFailure]:
        try:
            for frame in frames:
                self._take(frame)
                yield from self._returned(2 * self.plan.threads if self.pool else 0)
            self._close(None)
            yield from self._returned(0)
        finally:
            if self.pool:
                self.pool.shutdown(wait=True, cancel_futures=True)

    def _returned(self, keep: int) -> Iterator[OutputFrame | FrameFailure]:
        """The due results in order: those made, and more (waiting for them) while over ``keep`` are due; the next ones
        started on the pool."""
        while self.due:
            for due in itertools.islice(self.due, self.plan.threads):
                due.start(self.pool)
            if len(self.due) <= keep and not self.due[0].ready():
                return
            yield self.due.popleft().result()

    def _take(self, frame: InputFrame) -> None:
        if self.size is None:
            self._start(frame)
        try:
            current = read_shot_frame(frame.number, frame.buffers, self.size)
            if self.previous is not None and self.previous.number == frame.number - 1:
                link_motion(current, self.previous, self.plan.optical_flow)
        except FrameBridgeError as error:
            if frame.number in self.keys:
                raise
            self.previous, self.chain = None, None
            self.due.append(_Due(done=FrameFailure(frame.number, error)))
            return
        if self.plan.cache:
            self.frame_digests[current.number] = digests(frame.buffers)
        if self.previous is None or self.previous.number != current.number - 1:
            self.chain = None
        if current.number in self.keys:
            self.looks[current.number] = self._keyframe(frame)
            self.key_frames[current.number] = current
            self._close(current)
            self._model(current.number)  # the frames after it fill from it too: built while they are read
            self.chain = current.number, _done(start_chain(current.number, *current.work_look.shape[:2]))
            emitted = _Due(make=lambda: self._emit_keyframe(current))
            emitted.start(self.pool)  # waits for nothing: made now, not after the frames queued before it
            self.due.append(emitted)
        else:
            if self.chain is not None:
                key, chain = self.chain
                self.chain = current.forward = key, self.forward_steps.submit(
                    self._step_after, chain, current.number, current.work, self.previous.work, current.work_look,
                    current.work.motion_backward, self.previous.work.motion_forward)
            if any(key > current.number for key in self.keys):
                self.held.append(current)
            else:
                self.due.append(self._due(current, None))
        self.previous = current

    def _start(self, frame: InputFrame) -> None:
        """The shot's size, from its first frame; a job-level keyframe of another size fails the job."""
        beauty = frame.buffers.get(passes.BEAUTY)
        if beauty is None or beauty.ndim < 2:
            return
        self.size = beauty.shape[:2]
        for number, look in self.plan.job_keyframes.items():
            if look.shape[:2] != self.size:
                raise ShapeMismatch(f"keyframe_{number} is {look.shape[1]}x{look.shape[0]}, "
                                    f"the shot is {self.size[1]}x{self.size[0]}", details={"buffer": f"keyframe_{number}"})

    def _keyframe(self, frame: InputFrame) -> np.ndarray:
        array = self.plan.job_keyframes.get(str(frame.number))
        if array is None:
            array = frame.buffers.get(KEYFRAME)
            if array is None:
                raise MissingInput(f"frame {frame.number} is a keyframe but came without a `keyframe` buffer",
                                   details={"buffer": KEYFRAME})
            array = _check_keyframe(KEYFRAME, array, {})
            self.key_digests[frame.number] = digest(np.ascontiguousarray(array))
        if array.shape[:2] != self.size:
            raise ShapeMismatch(f"the keyframe of frame {frame.number} is {array.shape[1]}x{array.shape[0]}, "
                                f"the shot is {self.size[1]}x{self.size[0]}", details={"buffer": KEYFRAME})
        return np.ascontiguousarray(array[..., :3], dtype=np.float32)

    def _view(self, key: int) -> KeyView:
        return KeyView(self.key_frames[key].work.object_index, self.key_frames[key].work_look)

    def _later(self, function: Callable, *args) -> Future:
        """``function(*args)`` on the pool, or now without one. Whatever a call waits for must have been asked for
        before it: the pool starts calls in order, so the oldest unfinished call never waits."""
        return self.pool.submit(function, *args) if self.pool else _done(function(*args))

    def _step_after(self, chain: Future, number: int, guides: Guides, from_guides: Guides, look: np.ndarray, motion,
                    back_motion) -> Chain:
        """The chain after ``chain`` (traced by the step before), moved to frame ``number``."""
        before = chain.result()
        return step_chain(before, number, guides, from_guides, self._view(before.key), look, motion, back_motion,
                          depth_tolerance=self.plan.depth_tolerance)

    def _close(self, key: ShotFrame | None) -> None:
        """Queue the held frames: backward chains from ``key`` (None at the end of the job) blended with the forward ones.

        The frame returned first is the one the backward chain reaches last, so while
        the chain is traced the pool finishes the frames it has reached, from the
        last: at most twice ``threads`` of them, which wait to be returned.
        """
        held, self.held = self.held, []
        reached: list[ShotFrame] = []  # the held frames the backward chain reaches, from the last
        if key is not None and held and self.previous is held[-1]:
            for frame in reversed(held):
                if frame.number != key.number - 1 - len(reached):
                    break
                reached.append(frame)
        steps: dict[int, Future] = {frame.number: Future() for frame in reached}
        if reached:
            self._later(self._backward, key, reached, steps)
        dues = {frame.number: self._due(frame, None) for frame in held if frame.number not in steps}
        for frame in reached:
            dues[frame.number] = self._due(frame, (key.number, steps[frame.number]))
        for frame in reached[:2 * self.plan.threads if self.pool else 0]:
            dues[frame.number].start(self.pool)
        self.due.extend(dues[frame.number] for frame in held)

    def _backward(self, key: ShotFrame, reached: list[ShotFrame], steps: dict[int, Future]) -> None:
        """The backward chain from ``key`` traced through the ``reached`` frames (consecutive, from the last), each
        step's chain given to its frame's future as soon as it is made (a failure to every future left)."""
        chain, after = start_chain(key.number, *key.work_look.shape[:2]), key
        try:
            for frame in reached:
                chain = step_chain(chain, frame.number, frame.work, after.work, self._view(key.number), frame.work_look,
                                   frame.work.motion_forward, after.work.motion_backward,
                                   depth_tolerance=self.plan.depth_tolerance)
                steps[frame.number].set_result(chain)
                after = frame
        except BaseException as error:
            for step in steps.values():
                if not step.done():
                    step.set_exception(error)
            raise

    def _due(self, frame: ShotFrame, backward: tuple[int, Future] | None) -> _Due:
        """``frame``'s result to come: from the cache, or made from its forward chain and ``backward`` (the later
        keyframe, and the future of its chain at this frame, perhaps still being traced)."""
        keys = [side[0] for side in (frame.forward, backward) if side is not None]
        key = self._cache_key(frame, keys) if self.plan.cache else None
        cached = self.plan.cache.get(key, (passes.BEAUTY, CONFIDENCE)) if key else None
        if cached is not None and cached[passes.BEAUTY].shape[:2] == self.size:
            return _Due(done=OutputFrame(frame.number, cached, {"cache": "hit", "keyframes": keys}))
        # The keyframes a fill learns from, as they are now; their models asked for before the frame, which waits for them.
        models = {number: self._model(number) for number in keys or sorted(self.key_frames)}
        return _Due(make=lambda: self._store(key, self._finish(frame, frame.forward[1].result() if frame.forward else None,
                                                               backward[1].result() if backward else None, keys, models)))

    def _store(self, key: str | None, output: OutputFrame) -> OutputFrame:
        """``output`` kept in the cache under ``key`` (if any), by the thread that made it."""
        if key:
            self.plan.cache.put(key, output.buffers)
        return output

    def _finish(self, frame: ShotFrame, forward: Chain | None, backward: Chain | None, keys: list[int],
                models: dict[int, Future]) -> OutputFrame:
        """The frame made from its chains, in buffers of its own (any thread)."""
        # The farther keyframe first: the nearer one's span then wins the distance wherever it saw the pixel.
        chains = sorted((chain for chain in (forward, backward) if chain is not None),
                        key=lambda chain: -abs(frame.number - chain.key))
        sides = []
        for chain in chains:
            span = abs(frame.number - chain.key)
            # Between two keyframes each weighs by the distance to the other one: the nearer keyframe counts more.
            other = [abs(frame.number - other.key) for other in chains if other.key != chain.key]
            sides.append(Side(self.looks[chain.key], chain.coords, trust(chain), span, float(other[0] if other else 1.0),
                              0.5 ** (span / self.plan.halflife)))
        beauty, confidence, mask = assemble(frame.render, sides)
        holes = Holes(mask, frame.render, frame.work_look, frame.objects, frame.depth)
        if not holes.empty:
            blend_fill(beauty, confidence, holes.pixels, self._synthesise(frame, models, holes))
        return OutputFrame(frame.number, {passes.BEAUTY: beauty, CONFIDENCE: confidence},
                           {"cache": "miss" if self.plan.cache else "off", "keyframes": keys,
                            "synthesised": float(confidence[..., 2].mean())})

    def _beauty(self, look: np.ndarray, frame: ShotFrame) -> np.ndarray:
        """A keyframe's result, in memory of its own: ``look`` with the render's alpha, if it has one."""
        if not frame.has_alpha:
            return look.copy()
        beauty = np.empty(look.shape[:2] + (4,), np.float32)
        cv2.mixChannels([look, frame.render], [beauty], [0, 0, 1, 1, 2, 2, 6, 3])
        return beauty

    def _emit_keyframe(self, frame: ShotFrame) -> OutputFrame:
        confidence = np.empty(self.size + (3,), np.float32)
        confidence[:] = np.tile(np.array([1.0, 0.0, 0.0], np.float32), (self.size[1], 1))  # trust 1, distance 0, nothing filled
        return OutputFrame(frame.number, {passes.BEAUTY: self._beauty(self.looks[frame.number], frame), CONFIDENCE: confidence},
                           {"cache": "keyframe", "keyframes": [frame.number]})

    def _cache_key(self, frame: ShotFrame, keys: list[int]) -> str | None:
        if not keys:
            return None
        low, high = min(keys + [frame.number]), max(keys + [frame.number])
        return cache_key({**self.plan.fingerprint, "frame": frame.number,
                          "keyframes": {str(number): self.key_digests[number] for number in keys},
                          "inputs": [(n, self.frame_digests[n]) for n in sorted(self.frame_digests) if low <= n <= high]})

    def _synthesise(self, frame: ShotFrame, models: dict[int, Future], holes: Holes) -> np.ndarray:
        """Guided fill of the hole pixels from the keyframes' ``models`` by number, blended by temporal distance."""
        keys = sorted(models)
        weights = [float(abs(frame.number - other)) for other in reversed(keys)] if len(keys) == 2 else [1.0] * len(keys)
        total = sum(weights) or 1.0
        filled = np.zeros((len(holes.pixels), 3), np.float32)
        for key, weight in zip(keys, weights):
            if weight:
                filled += models[key].result().fill(holes) * (weight / total)
        return filled

    def _model(self, key: int) -> Future:
        """The guided-fill model of one keyframe, built on the pool (the latest two are kept: a span needs both of its
        ends)."""
        if key not in self.models:
            shown = self.key_frames[key]
            if len(self.models) >= 2:
                del self.models[min(self.models)]
            self.models[key] = self._later(StyleModel, [KeySample(self.looks[key], shown.work_look, shown.objects, shown.depth)])
        return self.models[key]


class _Due:
    """One result to return: ``done`` already, or to be made by ``make`` (on a pool, once started)."""

    def __init__(self, done: OutputFrame | FrameFailure | None = None, make: Callable[[], OutputFrame] | None = None):
        self.done, self.make = done, make
        self.future: Future | None = None

    def start(self, pool: ThreadPoolExecutor | None) -> None:
        if pool and self.done is None and self.future is None:
            self.future = pool.submit(self.make)

    def ready(self) -> bool:
        return self.done is not None or self.future is not None and self.future.done()

    def result(self) -> OutputFrame | FrameFailure:
        if self.done is not None:
            return self.done
        return self.future.result() if self.future else self.make()


class _Serial:
    """Calls run one after the other, in the order submitted, on a pool (or at once without one): one pool task runs
    them while any are queued, so no pool thread waits for the call before its own, and whatever waits for a call was
    submitted after the task that runs it."""

    def __init__(self, pool: ThreadPoolExecutor | None):
        self.pool = pool
        self.lock = threading.Lock()
        self.calls: deque[tuple[Future, Callable, tuple]] = deque()
        self.running = False

    def submit(self, function: Callable, *args) -> Future:
        if self.pool is None:
            return _done(function(*args))
        future: Future = Future()
        with self.lock:
            self.calls.append((future, function, args))
            if not self.running:
                self.running = True
                self.pool.submit(self._run)
        return future

    def _run(self) -> None:
        while True:
            with self.lock:
                if not self.calls:
                    self.running = False
                    return
                future, function, args = self.calls.popleft()
            try:
                future.set_result(function(*args))
            except BaseException as error:
                future.set_exception(error)


def _done(value: Any) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def default_threads() -> int:
    """Threads a propagate job uses: ``$FRAMEBRIDGE_PROPAGATE_THREADS``, else every core this process may run on."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise InvalidParams(f"{THREADS_ENV} must be a whole number of threads, at least 1, not {value!r}",
                                fix="set it to the cores propagate may use, or unset it to use every core")
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check_keyframe(name: str, array: np.ndarray, shot: Mapping[str, Any]) -> np.ndarray:
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ShapeMismatch(f"{name} must be an RGB or RGBA image (H, W, 3|4), not shape {array.shape}", details={"buffer": name})
    values = array.astype(np.float32)
    if array.dtype.kind == "u":
        values /= float(np.iinfo(array.dtype).max)
    if not np.isfinite(values).all():
        raise NonFiniteValues(f"{name} has NaN or infinite values", details={"buffer": name})
    resolution = shot.get("resolution")
    if isinstance(resolution, (list, tuple)) and len(resolution) == 2 and tuple(resolution) != (array.shape[1], array.shape[0]):
        raise ShapeMismatch(f"{name} is {array.shape[1]}x{array.shape[0]}, the shot is {resolution[0]}x{resolution[1]}",
                            details={"buffer": name})
    return values


def _number(params: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = float(params.get(name, default))
    if not low <= value <= high:
        raise InvalidParams(f"{name} must be within {low:g}..{high:g}, got {value:g}", details={"param": name})
    return value
