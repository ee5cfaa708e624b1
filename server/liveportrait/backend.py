"""The ``liveportrait`` expression backend: LivePortrait's networks moving the target face.

Per frame: the target face is cropped as LivePortrait crops a source (2.3 / -0.125 around
its 68 landmarks, 256x256), the driving and reference frames as it crops driving video
(2.2 / -0.1); the motion extractor reads all three, :mod:`.animation` turns them into
driven keypoints (regions, relative driving, multipliers, stitching), and the warping
module and generator render the moved crop. That crop goes back to the target's size
through a soft oval matte; the warping module's own flow becomes the STMap (the op
blends image and STMap into the target through the matte), and the target's landmarks
are carried along it. A still source animating a clip is extracted
once (cached by ``source_key``). Weights: ``expression.liveportrait`` in the models config
(:mod:`.checkpoints`); torch is imported only when the first frame runs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from typing import Any, ClassVar

import cv2
import numpy as np

from framebridge.protocol.errors import ModelError
from framebridge.server.expression.backend import AnimateRequest, AnimateResult, ExpressionBackend
from framebridge.server.models import ModelsConfig, load_config

from .animation import FaceLandmarks, Networks, driven_keypoints
from .checkpoints import CHECKPOINT_FILES, ROLE, read_architecture, weights_folder
from .crop import DRIVING_CROP, SOURCE_CROP, Crop, crop_image, face_crop, oval_matte, to_full_frame
from .keypoints import FaceMotion

__all__ = ["LivePortraitBackend", "carry_points", "flow_to_image_positions"]

CODE_VERSION = "liveportrait-backend-1"
INPUT_SIZE = 256
_CARRY_ITERATIONS = 8


def flow_to_image_positions(flow: np.ndarray, crop: Crop, height: int, width: int) -> np.ndarray:
    """(H, W, 2) image position each pixel samples, from the warp's crop-space flow (h, w, 2) in -1..1.

    Pixels outside the crop sample themselves.
    """
    crop_pixels = (flow.astype(np.float32) + 1.0) * (crop.size / 2.0) - 0.5
    crop_pixels = cv2.resize(crop_pixels, (crop.size, crop.size), interpolation=cv2.INTER_LINEAR)
    sampled = to_full_frame(crop_pixels, crop, height, width)
    inside = to_full_frame(np.ones((crop.size, crop.size), np.float32), crop, height, width) > 0.999
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    positions = crop.points_to_image(sampled.reshape(-1, 2).astype(np.float64)).reshape(height, width, 2)
    identity = np.stack([grid_x, grid_y], axis=-1)
    return np.where(inside[..., None], positions, identity).astype(np.float32)


def _bilinear(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``field`` (H, W, C) sampled at (N, 2) pixel positions, clamped to the image."""
    height, width = field.shape[:2]
    x = np.clip(points[:, 0], 0, width - 1)
    y = np.clip(points[:, 1], 0, height - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = field[y0, x0] * (1 - fx) + field[y0, x1] * fx
    bottom = field[y1, x0] * (1 - fx) + field[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def carry_points(positions: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Where points of the source land in the output, inverting the backward map ``positions`` by fixed-point steps."""
    points = np.asarray(points, np.float64)
    moved = points.copy()
    for _ in range(_CARRY_ITERATIONS):
        moved += points - _bilinear(positions, moved)
    return moved


def _stmap(positions: np.ndarray) -> np.ndarray:
    """Nuke STMap (u, v normalised, origin bottom-left) of image positions (H, W, 2)."""
    height, width = positions.shape[:2]
    return np.stack([(positions[..., 0] + 0.5) / width, 1.0 - (positions[..., 1] + 0.5) / height], axis=-1).astype(np.float32)


def _driving_crop(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A driving frame's 256x256 face crop, framed as LivePortrait frames driving video, in 0..1."""
    crop = face_crop(landmarks, INPUT_SIZE, DRIVING_CROP)
    return np.clip(crop_image(np.asarray(image, np.float32), crop), 0.0, 1.0)


class LivePortraitBackend(ExpressionBackend):
    """LivePortrait on the GPU (fp16, fp32 fallback per frame) or the CPU (fp32)."""

    name: ClassVar[str] = "liveportrait"

    def __init__(self, config: ModelsConfig | None = None, device: str | None = None):
        self._config = config
        self._device = device
        self._lock = threading.Lock()
        self._model = None
        self._version: str | None = None
        self._source: tuple[str, bytes, Any, dict[str, np.ndarray]] | None = None

    def _models_config(self) -> ModelsConfig:
        return self._config if self._config is not None else load_config()

    def describe(self) -> dict[str, Any]:
        missing_packages = [name for name in ("torch",) if importlib.util.find_spec(name) is None]
        description: dict[str, Any] = {"name": self.name, "role": ROLE, "files": list(CHECKPOINT_FILES.values()), "missing_packages": missing_packages}
        try:
            description["folder"] = str(weights_folder(self._models_config()))
            description["missing_files"] = []
        except ModelError as error:
            description["missing_files"] = list(error.details.get("missing", [])) or [error.message]
            description["fix"] = error.fix
        description["available"] = not missing_packages and not description["missing_files"]
        return description

    def check(self) -> None:
        if importlib.util.find_spec("torch") is None:
            raise ModelError("the liveportrait backend needs torch", fix="pip install 'framebridge[models]'")
        weights_folder(self._models_config())

    def version(self) -> str:
        """The code version and a digest of the checkpoint files' names, sizes and times."""
        if self._version is None:
            folder = weights_folder(self._models_config())
            digest = hashlib.sha256(CODE_VERSION.encode())
            for relative in sorted(CHECKPOINT_FILES.values()):
                status = (folder / relative).stat()
                digest.update(f"{relative}:{status.st_size}:{status.st_mtime_ns}".encode())
            self._version = f"{CODE_VERSION}:{digest.hexdigest()[:16]}"
        return self._version

    def _loaded(self):
        if self._model is None:
            from .model import LivePortraitModel

            folder = weights_folder(self._models_config())
            self._model = LivePortraitModel(folder, read_architecture(folder), self._device)
        return self._model

    def animate(self, request: AnimateRequest) -> AnimateResult:
        with self._lock:
            return self._animate(request)

    def _animate(self, request: AnimateRequest) -> AnimateResult:
        model = self._loaded()
        target = np.asarray(request.target, np.float32)
        height, width = target.shape[:2]
        source_crop = face_crop(request.target_face.landmarks, INPUT_SIZE, SOURCE_CROP)
        source_pixels = np.clip(crop_image(target, source_crop), 0.0, 1.0)
        driving_pixels = _driving_crop(request.driving, request.driving_face.landmarks)
        reference_pixels = _driving_crop(request.reference, request.reference_face.landmarks)
        features, source_outputs = self._source_state(model, request.source_key, source_crop, source_pixels)
        driving_outputs, reference_outputs = model.motion(np.stack([driving_pixels, reference_pixels]))
        motion = request.motion
        x_source, x_driven = driven_keypoints(
            FaceMotion.from_extractor(source_outputs),
            FaceMotion.from_extractor(driving_outputs),
            FaceMotion.from_extractor(reference_outputs),
            motion.regions,
            motion.multipliers,
            motion.relative,
            Networks(model.stitching, model.retarget_eyes, model.retarget_lips),
            motion.retarget,
            FaceLandmarks(request.target_face.landmarks, request.driving_face.landmarks, request.reference_face.landmarks),
        )
        rendered = model.render(features, x_source, x_driven, source_pixels)
        output_crop = source_crop.resized(rendered.image.shape[0])
        matte = np.clip(to_full_frame(oval_matte(output_crop.size, request.feather), output_crop, height, width), 0.0, 1.0)
        matte[matte < 1.0 / 1024] = 0.0
        placed = to_full_frame(np.clip(rendered.image, 0.0, 1.0), output_crop, height, width)
        image = np.where(matte[..., None] > 0, placed, target).astype(np.float32)
        positions = flow_to_image_positions(rendered.flow, source_crop, height, width)
        grid = np.stack(np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)), axis=-1)
        shown = grid + (positions - grid) * matte[..., None]  # where the pasted result samples from
        landmarks = carry_points(shown, request.target_face.landmarks)
        return AnimateResult(image=image, matte=matte, stmap=_stmap(positions), landmarks=landmarks.astype(np.float32))

    def _source_state(self, model, key: str, crop: Crop, pixels: np.ndarray) -> tuple[Any, dict[str, np.ndarray]]:
        """The source crop's feature volume and motion, reused while the same still animates a clip."""
        identity = crop.to_crop.tobytes()
        if self._source is not None and self._source[0] == key and self._source[1] == identity:
            return self._source[2], self._source[3]
        features = model.features(pixels)
        (outputs,) = model.motion(pixels[None])
        self._source = (key, identity, features, outputs)
        return features, outputs
