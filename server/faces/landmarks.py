"""Swappable face detection and 68-point landmarks; dlib's models are the default provider.

A provider finds face boxes in an 8-bit grey image and fits 68 landmarks inside a
box. The default uses dlib's HOG detector and the 68-point shape predictor that the
``face-recognition-models`` package ships. That model was trained on iBUG 300-W,
whose licence forbids commercial use: a studio swaps it by naming another provider,
``FRAMEBRIDGE_FACE_PROVIDER=package.module:Class`` (a :class:`LandmarkProvider`
subclass taking no arguments), or by registering one in :data:`PROVIDERS`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from framebridge.protocol.errors import InvalidParams, ModelError, ModelNotFound

__all__ = ["Detection", "LandmarkProvider", "DlibProvider", "PROVIDERS", "landmark_provider", "face_models_folder",
           "describe_provider"]


@dataclass(frozen=True)
class Detection:
    """A face box in pixels (x0, y0, x1, y1; x right, y down) and the detector's confidence."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


class LandmarkProvider(ABC):
    """Finds faces and their 68 landmarks (dlib/iBUG order) in 8-bit grey images."""

    name: ClassVar[str]

    @abstractmethod
    def detect(self, grey: np.ndarray, upsample: int = 0) -> list[Detection]:
        """Faces in a (H, W) uint8 image, best first; ``upsample`` doubles the image that many times first."""

    @abstractmethod
    def landmarks(self, grey: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """(68, 2) float32 pixel positions of the landmarks of the face in ``box``."""

    @abstractmethod
    def version(self) -> str:
        """Identifies the models; part of cache keys."""


def face_models_folder() -> Path:
    """Where ``face-recognition-models`` keeps its model files, found without importing it.

    (Importing it needs ``pkg_resources``, which recent setuptools no longer ships.)
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound("the face landmark models are not installed (package face-recognition-models)",
                            fix="pip install face-recognition-models dlib-bin")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibProvider(LandmarkProvider):
    """dlib's HOG frontal face detector and 68-point shape predictor (non-commercial model)."""

    name = "dlib"
    MODEL = "shape_predictor_68_face_landmarks.dat"

    def __init__(self, model: Path | None = None):
        try:
            import dlib
        except ImportError:
            raise ModelError("dlib is not installed", fix="pip install dlib-bin face-recognition-models") from None
        path = Path(model) if model else face_models_folder() / self.MODEL
        if not path.is_file():
            raise ModelNotFound(f"the 68-point landmark model {path.name} is missing from {path.parent}",
                                fix="pip install face-recognition-models", details={"file": str(path)})
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(path))
        self._model = path

    def detect(self, grey: np.ndarray, upsample: int = 0) -> list[Detection]:
        boxes, scores, _ = self._detector.run(np.ascontiguousarray(grey), upsample, 0.0)
        found = [Detection((float(b.left()), float(b.top()), float(b.right()), float(b.bottom())), float(s))
                 for b, s in zip(boxes, scores)]
        return sorted(found, key=lambda detection: -detection.score)

    def landmarks(self, grey: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        rectangle = self._dlib.rectangle(*(int(round(value)) for value in box))
        shape = self._predictor(np.ascontiguousarray(grey), rectangle)
        return np.array([(part.x, part.y) for part in shape.parts()], dtype=np.float32)

    def version(self) -> str:
        return f"dlib-{self._dlib.__version__}-{self._model.name}-{self._model.stat().st_size}"


PROVIDERS: dict[str, Callable[[], LandmarkProvider]] = {"dlib": DlibProvider}
_LOADED: dict[str, LandmarkProvider] = {}


def landmark_provider(name: str | None = None) -> LandmarkProvider:
    """The named provider (default: ``$FRAMEBRIDGE_FACE_PROVIDER``, else dlib), loaded once per process."""
    name = name or os.environ.get("FRAMEBRIDGE_FACE_PROVIDER") or "dlib"
    if name not in _LOADED:
        _LOADED[name] = _factory(name)()
    return _LOADED[name]


def describe_provider(name: str | None = None) -> dict[str, object]:
    """Whether the named provider can load, judged without loading it (its model takes seconds to read)."""
    name = name or os.environ.get("FRAMEBRIDGE_FACE_PROVIDER") or "dlib"
    if name in _LOADED or name != "dlib":
        return {"provider": name, "available": True}
    if importlib.util.find_spec("dlib") is None:
        return {"provider": name, "available": False, "error": "dlib is not installed",
                "fix": "pip install dlib-bin face-recognition-models"}
    try:
        model = face_models_folder() / DlibProvider.MODEL
    except ModelNotFound as error:
        return {"provider": name, "available": False, "error": error.message, "fix": error.fix}
    if not model.is_file():
        return {"provider": name, "available": False, "error": f"{model} is missing", "fix": "pip install face-recognition-models"}
    return {"provider": name, "available": True, "model": str(model),
            "licence": "the 68-point model's training data (iBUG 300-W) forbids commercial use"}


def _factory(name: str) -> Callable[[], LandmarkProvider]:
    if name in PROVIDERS:
        return PROVIDERS[name]
    module_name, separator, class_name = name.partition(":")
    if not separator:
        raise InvalidParams(f"unknown face landmark provider {name!r}",
                            details={"allowed": sorted(PROVIDERS) + ["package.module:Class"]})
    try:
        factory = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ModelError(f"the face landmark provider {name!r} cannot be loaded ({error})") from None
    if not (isinstance(factory, type) and issubclass(factory, LandmarkProvider)):
        raise ModelError(f"{name!r} is not a LandmarkProvider subclass")
    return factory
