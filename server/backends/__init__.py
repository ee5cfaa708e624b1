"""Model backends; each imports torch and its model libraries lazily, in ``load``."""

from .diffusers_backend import DiffusersBackend

__all__ = ["DiffusersBackend"]
