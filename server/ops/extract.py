"""``extract``: ControlNet condition images for every frame, from render passes or estimated from the beauty.

Outputs, one buffer per requested condition, at the exact resolution of the frame:
``control_depth``, ``control_canny``, ``control_lineart`` (H, W) and ``control_normal``,
``control_segmentation``, ``control_pose`` (H, W, 3) RGB; uint8 by default, or
float16/float32 in 0..1 (``output_dtype``).

Backends:

- ``builtin`` (default): depth from the ``depth`` pass, normal from ``normal`` and the
  frame's ``camera_matrix``, segmentation from ``object_index`` (or
  ``material_index``), pose drawn from ``pose_joints``, canny and lineart from
  ``beauty`` with OpenCV. No model weights.
- ``estimators``: depth, normal and pose estimated from ``beauty`` by the models
  configured under ``[estimators]`` (:mod:`..conditions.estimators`); canny,
  lineart and segmentation as in ``builtin``.

The depth range is one for the whole shot, so a brightness means the same distance
in every frame. It is, in order: ``params["depth_range"]``, ``shot["depth_range"]``
(both ``[near, far]`` in scene units; a host knows its clip range or can scan its
frames before sending), else the nearest and farthest foreground depth of the
first frame with any, kept for the rest of the job (frames are streamed, so later
frames cannot widen it without changing earlier results). Nearer than near is
white, beyond far and background black. Each result's ``meta`` says which range
was used and where it came from (``depth_range_source``: params, shot or
first_frame), and with the first-frame fallback a ``depth_range_note`` warning
that the range is not the shot's.

A frame whose passes cannot be used (wrong shape or channel count, empty,
non-finite normals or ids) fails alone with a typed error naming what is
allowed; an unforeseen error fails only its frame, as ``frame_failed``.

Shot keys read: ``depth_range`` ([near, far]), ``camera_matrix`` (a 4x4 world-from-camera
list of rows, for a static camera when frames carry no ``camera_matrix`` buffer),
``resolution`` ([width, height], for pose frames that carry no image buffer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np

from framebridge.protocol import passes
from framebridge.protocol.buffers import Limits
from framebridge.protocol.errors import FrameBridgeError, FrameFailed, InvalidParams, MissingInput, NonFiniteValues, ShapeMismatch

from ..conditions import (
    DepthRange,
    canny_condition,
    depth_condition,
    lineart_condition,
    measure_depth_range,
    normal_condition,
    pose_condition,
    segmentation_condition,
)
from ..conditions.edges import beauty_to_display8
from ..conditions.normal import camera_rotation
from ..conditions.estimators import ESTIMATOR_ROLES, check_estimator, load_estimator
from .base import NO_JOB_BUFFERS, FrameFailure, InputFrame, JobContext, Op, OutputFrame, check_job_buffers, check_params

__all__ = ["CONDITIONS", "ExtractOp", "ExtractPlan", "output_name"]

CONDITIONS = ("depth", "normal", "segmentation", "canny", "lineart", "pose")
BACKENDS = ("builtin", "estimators")
OUTPUT_DTYPES = ("uint8", "float16", "float32")
_IMAGE_INPUTS = (passes.BEAUTY, passes.DEPTH, passes.NORMAL, passes.OBJECT_INDEX, passes.MATERIAL_INDEX, passes.MOTION_BACKWARD, passes.MOTION_FORWARD)
_PARAMS: dict[str, type | tuple[type, ...]] = {
    "conditions": list,
    "depth_range": list,
    "canny_low": (int, float),
    "canny_high": (int, float),
    "lineart_sigma": (int, float),
    "pose_threshold": (int, float),
    "pose_line_width": int,
    "index_source": str,
    "normal_space": str,
    "output_dtype": str,
}


@dataclass(frozen=True)
class _Input:
    """What a pass buffer must look like: its shapes in words, channel counts (None: (H, W)), finite or not."""

    shape: str
    channels: tuple[int | None, ...]
    finite: bool


# Depth may hold inf/NaN (background by the depth rule) and beauty is clipped when encoded; normals and ids may not.
_INPUTS = {
    passes.BEAUTY: _Input("(H, W, 3) or (H, W, 4)", (3, 4), finite=False),
    passes.DEPTH: _Input("(H, W)", (None,), finite=False),
    passes.NORMAL: _Input("(H, W, 3)", (3,), finite=True),
    passes.OBJECT_INDEX: _Input("(H, W)", (None,), finite=True),
    passes.MATERIAL_INDEX: _Input("(H, W)", (None,), finite=True),
}
_FIRST_FRAME_NOTE = (
    "depth range measured on the first frame with foreground, not the whole shot: nearer objects in later frames "
    "are white, farther ones black; send shot depth_range (framebridge.protocol.passes.shot_depth_range over every frame)"
)


def output_name(condition: str) -> str:
    """The result buffer a condition is returned in."""
    return f"control_{condition}"


@dataclass
class ExtractPlan:
    conditions: tuple[str, ...]
    backend: str
    canny_low: float = 100.0
    canny_high: float = 200.0
    lineart_sigma: float = 6.0
    pose_threshold: float = 0.3
    pose_line_width: int | None = None
    index_buffer: str = passes.OBJECT_INDEX
    normal_space: str = "world"
    output_dtype: str = "uint8"
    depth_range: DepthRange | None = None
    depth_range_source: str = "first_frame"
    shot_camera: np.ndarray | None = None
    shot_resolution: tuple[int, int] | None = None
    estimator_folders: dict[str, Any] = field(default_factory=dict)


def _number(params: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = float(params.get(name, default))
    if not low <= value <= high:
        raise InvalidParams(f"{name} must be within {low}..{high}, got {value}", details={"param": name})
    return value


def _choice(params: Mapping[str, Any], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = params.get(name, default)
    if value not in allowed:
        raise InvalidParams(f"{name} must be one of {', '.join(allowed)}, got {value!r}", details={"param": name, "allowed": list(allowed)})
    return value


def _depth_range(value: Any, where: str) -> DepthRange:
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise InvalidParams(f"{where} must be [near, far] in scene units, got {value!r}")
    try:
        return DepthRange(float(value[0]), float(value[1]))
    except InvalidParams as error:
        raise InvalidParams(f"{where}: {error.message}") from error


class ExtractOp(Op):
    name = "extract"
    summary = "ControlNet conditions (depth, normal, segmentation, canny, lineart, pose) from render passes or estimated from plates."

    def describe(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "params": {
                "conditions": {"type": "list[str]", "allowed": list(CONDITIONS), "required": True},
                "depth_range": {"type": "[float, float]", "default": None, "doc": "[near, far]; else shot depth_range; else the first frame's"},
                "canny_low": {"type": "float", "default": 100.0, "min": 0.0, "max": 1000.0},
                "canny_high": {"type": "float", "default": 200.0, "min": 0.0, "max": 1000.0},
                "lineart_sigma": {"type": "float", "default": 6.0, "min": 0.5, "max": 50.0},
                "pose_threshold": {"type": "float", "default": 0.3, "min": 0.0, "max": 1.0},
                "pose_line_width": {"type": "int", "default": 0, "min": 0, "max": 64, "doc": "0: 4 pixels per 512 of the shorter side"},
                "index_source": {"type": "str", "default": "object", "allowed": ["object", "material"]},
                "normal_space": {"type": "str", "default": "world", "allowed": ["world", "camera"]},
                "output_dtype": {"type": "str", "default": "uint8", "allowed": list(OUTPUT_DTYPES)},
            },
            "inputs": {
                "depth": [passes.DEPTH],
                "normal": [passes.NORMAL, passes.CAMERA_MATRIX],
                "segmentation": [passes.OBJECT_INDEX, passes.MATERIAL_INDEX],
                "canny": [passes.BEAUTY],
                "lineart": [passes.BEAUTY],
                "pose": [passes.POSE_JOINTS],
            },
            "outputs": {condition: output_name(condition) for condition in CONDITIONS},
            "backends": list(BACKENDS),
        }

    def prepare(self, params: dict[str, Any], shot: dict[str, Any], frames: list[int], backend: str | None,
                job_buffers: Mapping[str, np.ndarray] = NO_JOB_BUFFERS) -> ExtractPlan:
        check_job_buffers(job_buffers, {})
        check_params(params, _PARAMS)
        requested = params.get("conditions")
        if not requested or not all(isinstance(name, str) for name in requested):
            raise InvalidParams("conditions must be a non-empty list of names", details={"allowed": list(CONDITIONS)})
        unknown = [name for name in requested if name not in CONDITIONS]
        if unknown:
            raise InvalidParams(f"unknown conditions {unknown}", fix=f"choose from {', '.join(CONDITIONS)}", details={"allowed": list(CONDITIONS)})
        backend = backend or "builtin"
        if backend not in BACKENDS:
            raise InvalidParams(f"extract has no backend {backend!r}", details={"allowed": list(BACKENDS)})
        plan = ExtractPlan(
            conditions=tuple(dict.fromkeys(requested)),
            backend=backend,
            canny_low=_number(params, "canny_low", 100.0, 0.0, 1000.0),
            canny_high=_number(params, "canny_high", 200.0, 0.0, 1000.0),
            lineart_sigma=_number(params, "lineart_sigma", 6.0, 0.5, 50.0),
            pose_threshold=_number(params, "pose_threshold", 0.3, 0.0, 1.0),
            pose_line_width=int(_number(params, "pose_line_width", 0, 0, 64)) or None,
            index_buffer=passes.OBJECT_INDEX if _choice(params, "index_source", "object", ("object", "material")) == "object" else passes.MATERIAL_INDEX,
            normal_space=_choice(params, "normal_space", "world", ("world", "camera")),
            output_dtype=_choice(params, "output_dtype", "uint8", OUTPUT_DTYPES),
        )
        if "depth_range" in params:
            plan.depth_range, plan.depth_range_source = _depth_range(params["depth_range"], "param depth_range"), "params"
        elif shot.get("depth_range") is not None:
            plan.depth_range, plan.depth_range_source = _depth_range(shot["depth_range"], "shot depth_range"), "shot"
        if shot.get("camera_matrix") is not None:
            if not _is_matrix(shot["camera_matrix"]):
                raise InvalidParams("shot camera_matrix must be a 4x4 list of rows (world-from-camera)")
            plan.shot_camera = np.asarray(shot["camera_matrix"], dtype=np.float64)
            camera_rotation(plan.shot_camera)  # refuses non-finite or degenerate matrices now, not per frame
        resolution = shot.get("resolution")
        if resolution is not None:
            if not (isinstance(resolution, (list, tuple)) and len(resolution) == 2 and all(type(v) is int and v > 0 for v in resolution)):
                raise InvalidParams(f"shot resolution must be [width, height], got {resolution!r}")
            limits = Limits()
            if resolution[0] > limits.max_width or resolution[1] > limits.max_height:
                raise InvalidParams(
                    f"shot resolution {resolution[0]}x{resolution[1]} is over the frame size limit {limits.max_width}x{limits.max_height}",
                    details={"max_width": limits.max_width, "max_height": limits.max_height},
                )
            plan.shot_resolution = (resolution[0], resolution[1])
        if backend == "estimators":
            plan.estimator_folders = {name: check_estimator(name) for name in plan.conditions if name in ESTIMATOR_ROLES}
        return plan

    def backend_name(self, plan: ExtractPlan) -> str:
        return plan.backend

    def run(self, plan: ExtractPlan, frames: Iterator[InputFrame], context: JobContext) -> Iterator[OutputFrame | FrameFailure]:
        estimators = {name: load_estimator(name, folder) for name, folder in plan.estimator_folders.items()}
        for frame in frames:
            try:
                yield OutputFrame(frame.number, *self.extract_frame(plan, frame.buffers, estimators))
            except FrameBridgeError as error:
                yield FrameFailure(frame.number, error)
            except Exception as error:  # noqa: BLE001 - one frame's unforeseen failure must not end the job
                yield FrameFailure(frame.number, FrameFailed(f"extract failed on frame {frame.number}: {type(error).__name__}: {error}"))

    def extract_frame(self, plan: ExtractPlan, buffers: Mapping[str, np.ndarray], estimators: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """One frame's condition images by output name, and what the result meta reports (other ops reuse this)."""
        size = _plate_size(buffers, plan)
        outputs: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {}
        for condition in plan.conditions:
            if condition in estimators:
                image = estimators[condition](beauty_to_display8(_need(buffers, passes.BEAUTY, condition)))
            elif condition == "depth":
                image = self._depth(plan, _need(buffers, passes.DEPTH, condition))
                meta["depth_range"] = [plan.depth_range.near, plan.depth_range.far] if plan.depth_range else None
                meta["depth_range_source"] = plan.depth_range_source
                if plan.depth_range_source == "first_frame":
                    meta["depth_range_note"] = _FIRST_FRAME_NOTE
            elif condition == "normal":
                image = normal_condition(_need(buffers, passes.NORMAL, condition), self._camera(plan, buffers), "uint8" if plan.output_dtype == "uint8" else "float32")
            elif condition == "segmentation":
                image = segmentation_condition(_need(buffers, plan.index_buffer, condition))
            elif condition == "canny":
                image = canny_condition(_need(buffers, passes.BEAUTY, condition), plan.canny_low, plan.canny_high)
            elif condition == "lineart":
                image = lineart_condition(_need(buffers, passes.BEAUTY, condition), plan.lineart_sigma)
            else:
                image = pose_condition(_need(buffers, passes.POSE_JOINTS, condition), size[1], size[0], plan.pose_threshold, plan.pose_line_width)
            outputs[output_name(condition)] = _as_dtype(image, plan.output_dtype)
        return outputs, meta

    def _depth(self, plan: ExtractPlan, depth: np.ndarray) -> np.ndarray:
        if plan.depth_range is None:
            plan.depth_range = measure_depth_range(depth)
            if plan.depth_range is None:
                return np.zeros(depth.shape, dtype=np.float32)
        return depth_condition(depth, plan.depth_range)

    def _camera(self, plan: ExtractPlan, buffers: Mapping[str, np.ndarray]) -> np.ndarray | None:
        if plan.normal_space == "camera":
            return None
        if passes.CAMERA_MATRIX in buffers:
            return buffers[passes.CAMERA_MATRIX]
        if plan.shot_camera is not None:
            return plan.shot_camera
        raise MissingInput(
            "the normal condition needs the frame's camera: a camera_matrix buffer (4x4 world-from-camera)",
            fix="send camera_matrix with each frame, or shot['camera_matrix'] for a static camera, "
            "or params normal_space='camera' if the normals are already in camera space",
            details={"buffer": passes.CAMERA_MATRIX, "condition": "normal"},
        )


def _is_matrix(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 4 and all(
        isinstance(row, (list, tuple)) and len(row) == 4 and all(isinstance(v, (int, float)) for v in row) for row in value
    )


def _need(buffers: Mapping[str, np.ndarray], name: str, condition: str) -> np.ndarray:
    """The frame's ``name`` buffer, checked against what the condition can use."""
    if name not in buffers:
        raise MissingInput(
            f"the {condition} condition needs the {name!r} buffer, and this frame has only {sorted(buffers) or 'none'}",
            fix=f"send {name} with every frame (enable the pass in the host), or drop {condition} from conditions",
            details={"buffer": name, "condition": condition},
        )
    buffer = np.asarray(buffers[name])
    if name == passes.POSE_JOINTS:
        if buffer.ndim != 3 or buffer.shape[1:] != (18, 3):
            raise ShapeMismatch(f"pose_joints must be (people, 18, 3) COCO-18 x, y, visibility; got shape {buffer.shape}", details={"buffer": name, "shape": list(buffer.shape)})
        return buffer
    allowed = _INPUTS.get(name)
    if allowed is None:
        return buffer
    channels = buffer.shape[2] if buffer.ndim == 3 else None
    if buffer.ndim not in (2, 3) or channels not in allowed.channels:
        raise ShapeMismatch(f"{name} must be {allowed.shape} for the {condition} condition, got shape {buffer.shape}", details={"buffer": name, "shape": list(buffer.shape)})
    if buffer.size == 0:
        raise ShapeMismatch(f"{name} is empty ({buffer.shape}); it must be at least 1x1 pixel", details={"buffer": name, "shape": list(buffer.shape)})
    if allowed.finite and buffer.dtype.kind == "f" and not np.isfinite(buffer).all():
        raise NonFiniteValues(f"{name} must be finite for the {condition} condition; it has NaN or infinite values", fix=f"fix or zero the non-finite pixels of {name} in the host", details={"buffer": name})
    return buffer


def _plate_size(buffers: Mapping[str, np.ndarray], plan: ExtractPlan) -> tuple[int, int]:
    """(width, height) shared by every image buffer of the frame."""
    flat = [name for name in _IMAGE_INPUTS if name in buffers and np.ndim(buffers[name]) < 2]
    if flat:
        raise ShapeMismatch(f"image buffers must be (H, W) or (H, W, C); {flat} are not", details={"buffers": flat})
    sizes = {name: buffers[name].shape[:2] for name in _IMAGE_INPUTS if name in buffers}
    if len(set(sizes.values())) > 1:
        raise ShapeMismatch(f"image buffers of one frame differ in size: {sizes}", details={"sizes": {k: list(v) for k, v in sizes.items()}})
    if sizes:
        height, width = next(iter(sizes.values()))
        return width, height
    if plan.shot_resolution:
        return plan.shot_resolution
    raise MissingInput(
        "no buffer gives the plate size (beauty, depth, normal or an index pass)",
        fix="send an image buffer with the frame, or shot['resolution'] = [width, height]",
    )


def _as_dtype(image: np.ndarray, dtype: str) -> np.ndarray:
    """A condition image (float 0..1 or uint8) in the requested output dtype."""
    if dtype == "uint8":
        if image.dtype == np.uint8:
            return image
        import cv2

        # Saturating rounding (as one channel, so the scale applies to every value): below 0 is 0, never mirrored.
        flat = np.ascontiguousarray(image, dtype=np.float32).reshape(image.shape[0], -1)
        return cv2.multiply(flat, 255.0, dtype=cv2.CV_8U).reshape(image.shape)
    if image.dtype == np.uint8:
        return (image * np.float32(1.0 / 255.0)).astype(dtype)
    return image.astype(dtype, copy=False)
