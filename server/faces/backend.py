"""What every face-model backend (``expression``, ``lipsync`` plates) answers before it runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

__all__ = ["FaceModelBackend"]


class FaceModelBackend(ABC):
    """A swappable face model: described without importing torch, checked before a job, versioned for the cache."""

    name: ClassVar[str]

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Name, version, whether it can run and what it lacks (packages, files); never imports torch."""

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`ModelNotFound` naming the missing file and where it goes; return when ready to load."""

    @abstractmethod
    def version(self) -> str:
        """Identifies the backend's behaviour (code and models); part of every cache key."""
