"""Scene-linear <-> display conversion for model inputs and outputs.

Renders are scene-linear; image models see display-referred sRGB in 0..1. The
built-in transfer is the piecewise sRGB curve (IEC 61966-2-1) and its exact
inverse; alpha is never touched.

With an OpenColorIO config (Blender's own ``datafiles/colormanagement/config.ocio``,
an ACES config, or an ``ocio://`` built-in), :class:`OcioTransform` applies the
config's display/view transform and the inverse of the same transform. Round-trip
errors measured by tests/server/test_colour.py on random colours:

- Blender ``sRGB``/``Standard``: display -> linear -> display within 2e-5, linear
  0..1 -> display -> linear within 5e-5, and within 2e-5 of the built-in curve.
- ACES ``sRGB - Display``/``Un-tone-mapped`` (from ACEScg): display -> linear ->
  display within 2e-5; linear colours outside Rec.709 are clipped by the display.
- Tone-mapping views (AgX, Filmic, ACES 2.0 SDR) compress highlights and gamut:
  display -> linear -> display differs by up to ~0.25 (AgX), so they suit model
  inputs, not a lossless return trip.

:func:`display_transform` picks the built-in curve or OCIO from one set of options.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from framebridge.protocol.errors import InvalidParams

__all__ = ["OcioTransform", "SrgbTransform", "blender_config", "display_transform", "linear_to_display", "display_to_linear"]


def linear_to_display(rgb: np.ndarray) -> np.ndarray:
    """Scene-linear RGB (any float dtype, values clipped to 0..1) to sRGB-encoded float32."""
    linear = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1.0 / 2.4) - 0.055).astype(np.float32)


def display_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in 0..1 back to scene-linear float32 (inverse of :func:`linear_to_display`)."""
    encoded = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    return np.where(encoded <= 0.04045, encoded / 12.92, np.power((encoded + 0.055) / 1.055, 2.4)).astype(np.float32)


class OcioTransform:
    """A config's scene-linear -> display/view transform and its inverse, on RGB only.

    ``config`` is a path to a ``.ocio`` file or an ``ocio://`` built-in name;
    ``display`` and ``view`` default to the config's defaults, ``scene_linear``
    to its ``scene_linear`` role.
    """

    def __init__(
        self,
        config: str | os.PathLike[str],
        *,
        display: str | None = None,
        view: str | None = None,
        scene_linear: str | None = None,
    ):
        import PyOpenColorIO as ocio

        source = str(config)
        try:
            self.config = ocio.Config.CreateFromFile(source if source.startswith("ocio://") else str(Path(source).expanduser()))
        except (ocio.Exception, ocio.ExceptionMissingFile) as error:
            raise InvalidParams(f"cannot read the OpenColorIO config {source}: {error}", details={"config": source}) from error
        self.display = display or self.config.getDefaultDisplay()
        if self.display not in self.config.getDisplays():
            raise InvalidParams(f"OCIO display {self.display!r} is not in {source}", details={"allowed": list(self.config.getDisplays())})
        self.view = view or self.config.getDefaultView(self.display)
        if self.view not in self.config.getViews(self.display):
            raise InvalidParams(f"OCIO view {self.view!r} is not a view of {self.display!r}", details={"allowed": list(self.config.getViews(self.display))})
        linear = self.config.getColorSpace(scene_linear or ocio.ROLE_SCENE_LINEAR)
        if linear is None:
            raise InvalidParams(f"OCIO colour space {scene_linear or 'scene_linear'!r} is not in {source}")
        self.scene_linear = linear.getName()
        transform = ocio.DisplayViewTransform(src=self.scene_linear, display=self.display, view=self.view)
        self._forward = self.config.getProcessor(transform, ocio.TRANSFORM_DIR_FORWARD).getDefaultCPUProcessor()
        self._inverse = self.config.getProcessor(transform, ocio.TRANSFORM_DIR_INVERSE).getDefaultCPUProcessor()

    def __repr__(self) -> str:
        return f"OcioTransform({self.scene_linear!r} -> {self.display!r}/{self.view!r})"

    def linear_to_display(self, image: np.ndarray) -> np.ndarray:
        """(..., 3|4) scene-linear float to display-referred float32 (clipped to 0..1); alpha copied as is."""
        return self._apply(self._forward, image, clip_after=True)

    def display_to_linear(self, image: np.ndarray) -> np.ndarray:
        """(..., 3|4) display-referred values in 0..1 back to scene-linear float32; alpha copied as is."""
        return self._apply(self._inverse, image, clip_before=True)

    @staticmethod
    def _apply(processor, image: np.ndarray, clip_before: bool = False, clip_after: bool = False) -> np.ndarray:
        array = np.asarray(image, dtype=np.float32)
        if array.shape[-1] not in (3, 4):
            raise InvalidParams(f"colour conversion needs (..., 3) or (..., 4) pixels, got shape {array.shape}")
        rgb = np.ascontiguousarray(array[..., :3]).reshape(-1, 3)
        if clip_before:
            np.clip(rgb, 0.0, 1.0, out=rgb)
        processor.applyRGB(rgb)
        if clip_after:
            np.clip(rgb, 0.0, 1.0, out=rgb)
        result = array.copy()
        result[..., :3] = rgb.reshape(array.shape[:-1] + (3,))
        return result


class SrgbTransform:
    """The built-in sRGB curve with the same interface as :class:`OcioTransform`; alpha copied as is."""

    def __repr__(self) -> str:
        return "SrgbTransform()"

    def linear_to_display(self, image: np.ndarray) -> np.ndarray:
        array = np.asarray(image, dtype=np.float32)
        result = array.copy()
        result[..., :3] = linear_to_display(array[..., :3])
        return result

    def display_to_linear(self, image: np.ndarray) -> np.ndarray:
        array = np.asarray(image, dtype=np.float32)
        result = array.copy()
        result[..., :3] = display_to_linear(array[..., :3])
        return result


def blender_config() -> Path | None:
    """The OCIO config shipped with the ``bpy`` package, found without importing bpy; None when absent."""
    from importlib.util import find_spec

    spec = find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    for package in spec.submodule_search_locations:
        for config in sorted(Path(package).glob("*/datafiles/colormanagement/config.ocio")):
            return config
    return None


def display_transform(
    config: str | os.PathLike[str] | None = None,
    *,
    display: str | None = None,
    view: str | None = None,
    scene_linear: str | None = None,
) -> SrgbTransform | OcioTransform:
    """The built-in sRGB transfer when no config is named, else that OCIO config's display/view."""
    if config is None:
        if display or view or scene_linear:
            raise InvalidParams("an OCIO display, view or scene-linear space needs an OCIO config")
        return SrgbTransform()
    return OcioTransform(config, display=display, view=view, scene_linear=scene_linear)
