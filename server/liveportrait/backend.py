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
import threading
from typing import TYPE_CHECKING, Any, ClassVar

import cv2
import numpy as np

from framebridge.protocol.errors import ModelError
from framebridge.server.expression.backend import AnimateRequest, AnimateResult, ExpressionBackend
from framebridge.server.models import ModelsConfig, load_config, package_installed

from .animation import FaceLandmarks, Networks, driven_keypoints
from .checkpoints import CHECKPOINT_FILES, ROLE, read_architecture, weights_folder
from .crop import DRIVING_CROP, SOURCE_CROP, Crop, Window, crop_image, face_crop, image_window, oval_matte, to_image
from .keypoints import FaceMotion

if TYPE_CHECKING:
    from .model import Rendered

__all__ = ["LivePortraitBackend", "carry_points", "flow_to_image_positions"]

CODE_VERSION = "liveportrait-backend-1"
INPUT_SIZE = 256
_CARRY_ITERATIONS = 8


def flow_to_image_positions(flow: np.ndarray, crop: Crop, window: Window) -> np.ndarray:
    """(h, w, 2) image position each pixel of ``window`` samples, from the warp's crop-space flow (in -1..1).

    Pixels the crop does not fully cover sample themselves.
    """
    crop_pixels = (flow.astype(np.float32) + 1.0) * (crop.size / 2.0) - 0.5
    crop_pixels = cv2.resize(crop_pixels, (crop.size, crop.size), interpolation=cv2.INTER_LINEAR)
    sampled = to_image(crop_pixels, crop, window)
    inside = to_image(np.ones((crop.size, crop.size), np.float32), crop, window) > 0.999
    positions = crop.points_to_image(sampled.reshape(-1, 2).astype(np.float64)).reshape(sampled.shape)
    return np.where(inside[..., None], positions, _pixel_grid(window)).astype(np.float32)


def _pixel_grid(window: Window) -> np.ndarray:
    """(h, w, 2) float32 image positions (x, y) of the window's own pixels."""
    columns = np.arange(window.x0, window.x1, dtype=np.float32)
    rows = np.arange(window.y0, window.y1, dtype=np.float32)
    return np.stack(np.meshgrid(columns, rows), axis=-1)


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


def _stmap(positions: np.ndarray, window: Window, height: int, width: int) -> np.ndarray:
    """Nuke STMap (u, v normalised, origin bottom-left): the window's sampled positions, the identity elsewhere."""
    stmap = np.empty((height, width, 2), np.float32)
    stmap[..., 0] = ((np.arange(width, dtype=np.float32) + 0.5) / width)[None, :]
    stmap[..., 1] = (1.0 - (np.arange(height, dtype=np.float32) + 0.5) / height)[:, None]
    stmap[window.rows, window.columns, 0] = (positions[..., 0] + 0.5) / width
    stmap[window.rows, window.columns, 1] = 1.0 - (positions[..., 1] + 0.5) / height
    return stmap


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
        missing_packages = [name for name in ("torch",) if not package_installed(name)]
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
        if not package_installed("torch"):
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
        return _paste_back(rendered, source_crop, target, request)

    def _source_state(self, model, key: str, crop: Crop, pixels: np.ndarray) -> tuple[Any, dict[str, np.ndarray]]:
        """The source crop's feature volume and motion, reused while the same still animates a clip."""
        identity = crop.to_crop.tobytes()
        if self._source is not None and self._source[0] == key and self._source[1] == identity:
            return self._source[2], self._source[3]
        features = model.features(pixels)
        (outputs,) = model.motion(pixels[None])
        self._source = (key, identity, features, outputs)
        return features, outputs


def _paste_back(rendered: Rendered, source_crop: Crop, target: np.ndarray, request: AnimateRequest) -> AnimateResult:
    """The rendered crop, its matte, STMap and carried landmarks at the target's size; only the crop's window is touched."""
    height, width = target.shape[:2]
    window = image_window(source_crop, height, width)
    output_crop = source_crop.resized(rendered.image.shape[0])
    local_matte = np.clip(to_image(oval_matte(output_crop.size, request.feather), output_crop, window), 0.0, 1.0)
    local_matte[local_matte < 1.0 / 1024] = 0.0
    matte = np.zeros((height, width), np.float32)
    matte[window.rows, window.columns] = local_matte
    image = target.copy()
    placed = to_image(np.clip(rendered.image, 0.0, 1.0).astype(np.float32), output_crop, window)
    image[window.rows, window.columns] = np.where(local_matte[..., None] > 0, placed, target[window.rows, window.columns])
    positions = flow_to_image_positions(rendered.flow, source_crop, window)
    grid = _pixel_grid(window)
    shown = grid + (positions - grid) * local_matte[..., None]  # where the pasted result samples from
    landmarks = carry_points(shown - window.origin.astype(np.float32), request.target_face.landmarks - window.origin) + window.origin
    return AnimateResult(image=image, matte=matte, stmap=_stmap(positions, window, height, width), landmarks=landmarks.astype(np.float32))
