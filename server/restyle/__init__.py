"""Video-to-video restyling: backends, temporal consistency, keyframes, seeds and the result cache."""

from .backend import RestyleBackend, StyleRequest

__all__ = ["RestyleBackend", "StyleRequest"]
