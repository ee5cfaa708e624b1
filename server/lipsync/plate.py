"""Lip-synced plates: the backend interface the ``lipsync`` op drives in ``mode: plate``, and its two backends.

The op converts colour, maps each frame to its audio time and cue-shape weights,
and calls :meth:`PlateBackend.process` on the frames in order. A backend finds the
face (the swappable landmark provider of :mod:`framebridge.server.faces`, tracked
and One-Euro smoothed), edits only the mouth, and returns the edited frame with its
soft matte: outside the matte every pixel is the input's own, bit for bit. A frame
without a face comes back unchanged with ``face_found`` False (the op names it).

- ``cpu`` (the default, no downloaded weights): the mouth and jaw are moved on the 68
  landmarks toward the blended cue shape's openness, width and roundness
  (:mod:`.mouth`), the lower face is warped by a thin-plate spline that fades to
  nothing at the feathered matte's edge, and an opening wider than the plate's own is
  filled with the inside of the plate's most open mouth so far (:mod:`.interior`).
- ``wav2lip``: a Wav2Lip-compatible generator (:mod:`.wav2lip`) from the models config
  role ``lipsync.wav2lip.checkpoint`` redraws the lower half of a 96x96 face crop from
  the 16 mel frames at the frame's audio time (:mod:`.mel`). The crop is the face box
  from the landmarks padded 10 px at the chin; its size is smoothed over past frames
  while its centre follows this frame's face (the official forward-averaged boxes lag
  the face, which shows a second mouth), and the result is pasted through a feathered
  lower-face matte that fades out inside the crop instead of replacing a hard box.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import cv2
import numpy as np

from framebridge.protocol.errors import InvalidParams, ModelError, ModelNotFound
from framebridge.server.faces import FaceTracker, filter_for_strength, landmark_provider, soft_matte, thin_plate_warp
from framebridge.server.faces.backend import FaceModelBackend
from framebridge.server.faces.mask import face_size, outline, ring
from framebridge.server.models import ModelsConfig, load_config, resolve

from .interior import MouthInterior
from .mel import mel_chunk, mel_start, melspectrogram
from .mouth import blend_shape, mouth_width, shaped_landmarks

__all__ = ["SHAPES", "PlateFrame", "PlateResult", "PlateBackend", "MouthWarpBackend", "Wav2LipBackend",
           "PLATE_BACKENDS", "plate_backend"]

SHAPES = ("A", "B", "C", "D", "E", "F", "G", "H", "X")
LOWER_FACE = tuple(range(2, 15)) + tuple(range(31, 36)) + tuple(range(48, 68))
INNER_LIPS = frozenset(range(60, 68))
FEATHER = 0.08  # matte feather as a fraction of the face size
SMOOTHING = 0.5  # One-Euro strength for the landmark tracks
_LOAD_LOCK = threading.Lock()
_LOADED_MODELS: dict[tuple[str, int, int], tuple[Any, str]] = {}  # the last checkpoint loaded, shared by jobs


@dataclass(frozen=True)
class PlateFrame:
    image: np.ndarray  # (H, W, 3) float32 display sRGB 0..1 (the op converts colour)
    number: int  # frame number
    time: float  # seconds into the audio for this frame (the op maps it)
    weights: Mapping[str, float]  # cue shape weights at this frame (from rules.py), sum 1


@dataclass(frozen=True)
class PlateResult:
    image: np.ndarray  # (H, W, 3) same size
    matte: np.ndarray  # (H, W) float32 soft mouth/face matte; outside it pixels are the input's, bit-identical
    face_found: bool  # False: pass-through, the op names the frame with a warning
    landmarks: np.ndarray | None  # (68, 2) after the edit


class PlateBackend(FaceModelBackend):
    """Lip-syncs the frames of one plate, in order; one instance serves one job at a time."""

    @abstractmethod
    def start(self, audio_16k: np.ndarray, fps: float) -> None:
        """Begin a job: the whole track as 16 kHz mono float32, and the plate's frame rate."""

    @abstractmethod
    def process(self, frame: PlateFrame) -> PlateResult:
        """The lip-synced frame; frames arrive in order."""


class _FaceFollower:
    """The tracked face of a plate with One-Euro smoothed landmarks; the filter restarts when the face is lost."""

    def __init__(self) -> None:
        self.tracker = FaceTracker(landmark_provider())
        self.filter = None

    def find(self, image: np.ndarray, number: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(raw, smoothed) landmarks of the face in this frame, or None."""
        face = self.tracker.find(_grey(image))
        if face is None:
            self.filter = None
            return None
        if self.filter is None:
            self.filter = filter_for_strength(SMOOTHING, face.size)
        smoothed = self.filter(face.landmarks, float(number)) if self.filter is not None else face.landmarks
        return face.landmarks, smoothed


def _grey(image: np.ndarray) -> np.ndarray:
    """8-bit grey of a float RGB frame, converting one channel instead of three (a 1080p frame in a few ms)."""
    grey = cv2.cvtColor(np.ascontiguousarray(image[..., :3], dtype=np.float32), cv2.COLOR_RGB2GRAY)
    return cv2.convertScaleAbs(grey, alpha=255.0)  # rounds and saturates to 0..255


def _pass_through(frame: PlateFrame) -> PlateResult:
    height, width = frame.image.shape[:2]
    return PlateResult(frame.image, np.zeros((height, width), np.float32), False, None)


def _composite(image: np.ndarray, edited: np.ndarray, matte: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """``edited`` (the roi's new pixels) over ``image`` through ``matte``; where the matte is 0, the input's own bits."""
    x0, y0, x1, y1 = roi
    output = image.copy()
    region = image[y0:y1, x0:x1]
    weight = matte[y0:y1, x0:x1, None]
    blended = (region + (edited - region) * weight).astype(image.dtype)
    output[y0:y1, x0:x1] = np.where(weight > 0, blended, region)
    return output


def _face_models_check() -> None:
    from framebridge.server.faces.landmarks import DlibProvider, face_models_folder

    model = face_models_folder() / DlibProvider.MODEL
    if not model.is_file():
        raise ModelNotFound(f"the 68-point landmark model is missing: {model}", fix="pip install face-recognition-models",
                            details={"file": str(model)})


class MouthWarpBackend(PlateBackend):
    """The CPU default: warps the plate's own mouth toward each frame's cue shape."""

    name: ClassVar[str] = "cpu"
    CODE_VERSION = "mouth-warp-1"

    def __init__(self) -> None:
        self._follower: _FaceFollower | None = None
        self._interior = MouthInterior()
        self._width_ratios: list[float] = []

    def describe(self) -> dict[str, Any]:
        try:
            self.check()
            missing: list[str] = []
        except ModelNotFound as error:
            missing = [error.message]
        return {"name": self.name, "version": self.CODE_VERSION, "available": not missing, "missing": missing,
                "summary": "mouth warped toward each cue shape on the 68 landmarks; no model weights"}

    def check(self) -> None:
        _face_models_check()

    def version(self) -> str:
        return f"{self.CODE_VERSION}+{landmark_provider().version()}"

    def start(self, audio_16k: np.ndarray, fps: float) -> None:
        self._follower = _FaceFollower()
        self._interior = MouthInterior()
        self._width_ratios = []

    def process(self, frame: PlateFrame) -> PlateResult:
        if self._follower is None:
            raise RuntimeError("start() must be called before process()")
        found = self._follower.find(frame.image, frame.number)
        if found is None:
            return _pass_through(frame)
        raw, landmarks = found
        self._interior.consider(frame.image, raw)
        moved = shaped_landmarks(landmarks, blend_shape(frame.weights), self._neutral_width(landmarks))
        return self._warp(frame.image, landmarks, moved)

    def _neutral_width(self, landmarks: np.ndarray) -> float:
        """The face's resting mouth width: the running median of width over eye distance, at this frame's scale."""
        eyes = float(np.linalg.norm(landmarks[36:42].mean(0) - landmarks[42:48].mean(0))) or 1.0
        self._width_ratios.append(mouth_width(landmarks) / eyes)
        return float(np.median(self._width_ratios[-250:])) * eyes

    def _warp(self, image: np.ndarray, landmarks: np.ndarray, moved: np.ndarray) -> PlateResult:
        shape = image.shape[:2]
        feather = max(1.0, FEATHER * face_size(landmarks))
        hull = outline(np.vstack([landmarks[list(LOWER_FACE)], moved[list(LOWER_FACE)]]))
        still = ring(hull, 2.0 * feather + 2.0)
        # The inner-lip points steer the opening's outline, not the warp: as controls, a pair pulled
        # together from far apart makes the spline ring (the lips zigzag).
        controls = [index for index in range(len(landmarks)) if index not in INNER_LIPS]
        warp = thin_plate_warp(np.vstack([landmarks[controls], still]), np.vstack([moved[controls], still]), shape,
                               _bounds(still, shape), grid_step=8)
        x0, y0, x1, y1 = warp.roi
        if x1 <= x0 or y1 <= y0:
            return PlateResult(image, np.zeros(shape, np.float32), True, moved)
        matte = soft_matte(hull, shape, feather, warp.roi)
        inside = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.fillPoly(inside, [np.rint((landmarks[60:68] - (x0, y0)) * 4).astype(np.int32)], 1.0,
                     lineType=cv2.LINE_AA, shift=2)
        shown_inside = cv2.remap(inside, warp.map_x - x0, warp.map_y - y0, cv2.INTER_LINEAR, borderValue=0.0)
        edited = self._interior.paint(warp.sample(image), (x0, y0), landmarks, moved, shown_inside)
        return PlateResult(_composite(image, edited, matte, warp.roi), matte, True, moved)


def _bounds(points: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    height, width = shape
    low, high = np.floor(points.min(0)) - 1, np.ceil(points.max(0)) + 2
    return int(max(0, low[0])), int(max(0, low[1])), int(min(width, high[0])), int(min(height, high[1]))


class Wav2LipBackend(PlateBackend):
    """A Wav2Lip-compatible generator redrawing the lower face from the audio; fp32, CUDA when present else CPU."""

    name: ClassVar[str] = "wav2lip"
    CODE_VERSION = "wav2lip-1"
    CHIN_PAD = 10  # pixels added below the chin, as the official inference's pads [0, 10, 0, 0]
    SIZE_SMOOTHING = 0.35  # weight of this frame's box size in the running size (about a five-frame memory)

    def __init__(self, config: ModelsConfig | None = None):
        self._config = config
        self._model: Any = None
        self._device = "cpu"
        self._follower: _FaceFollower | None = None
        self._mel: np.ndarray | None = None
        self._box_size: np.ndarray | None = None

    def _checkpoint(self) -> Any:
        from .wav2lip import CHECKPOINT_ROLE, checkpoint_file

        config = self._config if self._config is not None else load_config()
        return checkpoint_file(resolve(CHECKPOINT_ROLE, config))

    def describe(self) -> dict[str, Any]:
        from .wav2lip import CHECKPOINT_ROLE

        try:
            self.check()
            missing: list[str] = []
        except ModelError as error:
            missing = [f"{error.message} ({error.fix})" if error.fix else error.message]
        return {"name": self.name, "version": self.CODE_VERSION, "available": not missing, "missing": missing,
                "models": {"checkpoint": CHECKPOINT_ROLE},
                "summary": "Wav2Lip-compatible generator from a local checkpoint (non-commercial weights)"}

    def check(self) -> None:
        _face_models_check()
        self._checkpoint()

    def version(self) -> str:
        checkpoint = self._checkpoint()
        return f"{self.CODE_VERSION}+{checkpoint.name}-{checkpoint.stat().st_size}+{landmark_provider().version()}"

    def _load(self) -> Any:
        """The generator, loaded once per process and checkpoint (a changed file is loaded again)."""
        if self._model is None:
            import torch

            from .wav2lip import load_wav2lip

            checkpoint = self._checkpoint()
            status = checkpoint.stat()
            key = (str(checkpoint.resolve()), status.st_size, status.st_mtime_ns)
            with _LOAD_LOCK:
                if key not in _LOADED_MODELS:
                    device = "cuda" if torch.cuda.is_available() else "cpu"
                    _LOADED_MODELS.clear()
                    _LOADED_MODELS[key] = (load_wav2lip(checkpoint).to(device), device)
                self._model, self._device = _LOADED_MODELS[key]
        return self._model

    def start(self, audio_16k: np.ndarray, fps: float) -> None:
        audio = np.asarray(audio_16k, dtype=np.float32).reshape(-1)
        if audio.size == 0:
            raise InvalidParams("the wav2lip backend needs audio: the track has no samples")
        self._load()
        self._mel = melspectrogram(audio)
        self._follower = _FaceFollower()
        self._box_size = None

    def process(self, frame: PlateFrame) -> PlateResult:
        if self._follower is None or self._mel is None:
            raise RuntimeError("start() must be called before process()")
        found = self._follower.find(frame.image, frame.number)
        if found is None:
            self._box_size = None
            return _pass_through(frame)
        _, landmarks = found
        image = frame.image
        box = self._crop_box(landmarks, image.shape[:2])
        x0, y0, x1, y1 = box
        if x1 - x0 < 8 or y1 - y0 < 8:
            return _pass_through(frame)
        mouth = self._generate(image[y0:y1, x0:x1], mel_chunk(self._mel, mel_start(frame.time)))
        matte = self._paste_matte(landmarks, image.shape[:2], box)
        return PlateResult(_composite(image, mouth, matte, box), matte, True, landmarks)

    def _crop_box(self, landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        """The face box (brows to chin, jaw side to side) padded at the chin; size smoothed, centre of this frame."""
        height, width = shape
        low = np.array([landmarks[:17, 0].min(), landmarks[17:27, 1].min()])
        high = np.array([landmarks[:17, 0].max(), landmarks[8, 1] + self.CHIN_PAD])
        size = high - low
        if self._box_size is None:
            self._box_size = size
        self._box_size = self._box_size + self.SIZE_SMOOTHING * (size - self._box_size)
        centre = (low + high) / 2.0
        x0, y0 = np.floor(centre - self._box_size / 2.0).astype(int)
        x1, y1 = np.ceil(centre + self._box_size / 2.0).astype(int)
        return max(0, x0), max(0, y0), min(width, x1), min(height, y1)

    def _generate(self, crop: np.ndarray, mel: np.ndarray) -> np.ndarray:
        import torch

        from .wav2lip import face_input, mouth_output

        model = self._load()
        faces = torch.from_numpy(face_input(crop))[None].to(self._device)
        audio = torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))[None, None].to(self._device)
        with torch.no_grad():
            prediction = model(audio, faces)[0].float().cpu().numpy()
        return mouth_output(prediction, crop.shape[1], crop.shape[0])

    def _paste_matte(self, landmarks: np.ndarray, shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
        """The lower face, feathered, and faded to 0 before the crop's edges (so no box edge shows)."""
        x0, y0, x1, y1 = box
        feather = max(1.0, FEATHER * face_size(landmarks))
        matte = soft_matte(outline(landmarks[list(LOWER_FACE)]), shape, feather, box)
        columns = np.arange(x0, x1, dtype=np.float32)
        rows = np.arange(y0, y1, dtype=np.float32)
        ramp_x = np.clip(np.minimum(columns - x0, x1 - 1 - columns) / feather, 0.0, 1.0)
        ramp_y = np.clip(np.minimum(rows - y0, y1 - 1 - rows) / feather, 0.0, 1.0)
        matte[y0:y1, x0:x1] *= ramp_y[:, None] * ramp_x[None, :]
        return matte


PLATE_BACKENDS: dict[str, type[PlateBackend]] = {"cpu": MouthWarpBackend, "wav2lip": Wav2LipBackend}


def plate_backend(name: str | None, config: ModelsConfig | None = None) -> PlateBackend:
    """A fresh plate backend by name (default ``cpu``)."""
    name = name or "cpu"
    if name not in PLATE_BACKENDS:
        raise InvalidParams(f"unknown plate backend {name!r}", details={"allowed": sorted(PLATE_BACKENDS)})
    return Wav2LipBackend(config) if name == "wav2lip" else MouthWarpBackend()
