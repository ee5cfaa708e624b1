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

A host working in another space (Nuke under ACEScg, say) names it in the shot:
``shot["colour"] = {"working_space": ..., "ocio_config": ...}``. :func:`working_space`
turns that into a :class:`WorkingSpace` that brings beauty buffers into the linear
Rec.709 the ops assume and results back; ops call it on the way in and out.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from framebridge.protocol.errors import InvalidParams

__all__ = ["OcioTransform", "SrgbTransform", "WorkingSpace", "blender_config", "display_transform", "linear_to_display",
           "display_to_linear", "unpremultiply", "working_space", "frames_in", "results_out"]


def linear_to_display(rgb: np.ndarray) -> np.ndarray:
    """Scene-linear RGB (any float dtype, values clipped to 0..1) to sRGB-encoded float32."""
    linear = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1.0 / 2.4) - 0.055).astype(np.float32)


def display_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in 0..1 back to scene-linear float32 (inverse of :func:`linear_to_display`)."""
    encoded = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    return np.where(encoded <= 0.04045, encoded / 12.92, np.power((encoded + 0.055) / 1.055, 2.4)).astype(np.float32)


def unpremultiply(image: np.ndarray) -> np.ndarray:
    """Colour without the alpha premultiplication renders carry: RGB / alpha, 0 where alpha is 0 (RGB images as they are)."""
    rgb = image[..., :3]
    if image.shape[2] == 3:
        return rgb
    alpha = image[..., 3:4]
    return np.divide(rgb, alpha, out=np.zeros(rgb.shape, np.float32), where=alpha > 1e-6)


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


# Names (and OCIO 2 aliases) under which configs carry linear Rec.709 / sRGB primaries: ACES and Nuke configs.
_LINEAR_REC709 = ("lin_rec709_srgb", "Linear Rec.709 (sRGB)", "Utility - Linear - sRGB", "lin_srgb", "linear")
_BEAUTY = "beauty"


class WorkingSpace:
    """A config's working space <-> the linear Rec.709 the ops assume, on the RGB of (..., 3|4) buffers; alpha as is."""

    def __init__(self, config: str, space: str):
        import PyOpenColorIO as ocio

        try:
            self.config = ocio.Config.CreateFromFile(config if config.startswith("ocio://") else str(Path(config).expanduser()))
        except (ocio.Exception, ocio.ExceptionMissingFile) as error:
            raise InvalidParams(f"cannot read the OpenColorIO config {config}: {error}", details={"config": config},
                                fix="the server reads the config itself: give a path that exists on the server machine") from error
        found = self.config.getColorSpace(space)
        if found is None:
            raise InvalidParams(f"working space {space!r} is not in the OCIO config {config}",
                                details={"allowed": [item.getName() for item in self.config.getColorSpaces()]})
        target = next((self.config.getColorSpace(name) for name in _LINEAR_REC709 if self.config.getColorSpace(name)), None)
        if target is None:
            raise InvalidParams(f"the OCIO config {config} has no linear Rec.709 colour space to convert {space!r} to",
                                details={"looked_for": list(_LINEAR_REC709)})
        self.space, self.linear = found.getName(), target.getName()
        self._in = self.config.getProcessor(self.space, self.linear).getDefaultCPUProcessor()
        self._out = self.config.getProcessor(self.linear, self.space).getDefaultCPUProcessor()

    def __repr__(self) -> str:
        return f"WorkingSpace({self.space!r} <-> {self.linear!r})"

    def to_linear(self, image: np.ndarray) -> np.ndarray:
        """Working-space RGB(A) to linear Rec.709, float32, unclipped."""
        return self._apply(self._in, image)

    def from_linear(self, image: np.ndarray) -> np.ndarray:
        """Linear Rec.709 RGB(A) back to the working space, float32, unclipped."""
        return self._apply(self._out, image)

    @staticmethod
    def _apply(processor, image: np.ndarray) -> np.ndarray:
        array = np.asarray(image, dtype=np.float32)
        if array.shape[-1] not in (3, 4):
            raise InvalidParams(f"colour conversion needs (..., 3) or (..., 4) pixels, got shape {array.shape}")
        rgb = np.array(array[..., :3], dtype=np.float32, order="C")  # a copy: applyRGB works in place
        processor.applyRGB(rgb.reshape(-1, 3))
        result = array.copy()
        result[..., :3] = rgb
        return result

    def buffers_in(self, buffers: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A frame's buffers with the beauty converted to linear Rec.709 (passes are data and stay)."""
        converted = dict(buffers)
        if _BEAUTY in converted:
            converted[_BEAUTY] = self.to_linear(converted[_BEAUTY])
        return converted

    def buffers_out(self, buffers: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A result's buffers with the beauty converted back to the working space, in its own dtype."""
        converted = dict(buffers)
        if _BEAUTY in converted:
            beauty = converted[_BEAUTY]
            converted[_BEAUTY] = self.from_linear(beauty).astype(beauty.dtype)
        return converted


@lru_cache(maxsize=8)
def _working_space(config: str, space: str) -> WorkingSpace:
    return WorkingSpace(config, space)


def working_space(shot: Mapping[str, Any]) -> WorkingSpace | None:
    """The shot's working space, or None when it has none (or it already is linear Rec.709); bad fields are refused."""
    colour = shot.get("colour")
    if colour is None:
        return None
    if not isinstance(colour, Mapping) or not isinstance(colour.get("working_space"), str) \
            or not isinstance(colour.get("ocio_config"), str):
        raise InvalidParams("shot colour must be {'working_space': str, 'ocio_config': str}", details={"colour": repr(colour)[:200]})
    space = _working_space(colour["ocio_config"], colour["working_space"])
    return None if space.space == space.linear else space


def frames_in(frames: Iterable[Any], shot: Mapping[str, Any]) -> Iterable[Any]:
    """Input frames with their beauty brought from the shot's working space into linear Rec.709 (as is without one)."""
    space = working_space(shot)
    if space is None:
        return frames
    return (replace(frame, buffers=space.buffers_in(frame.buffers)) for frame in frames)


def results_out(items: Iterable[Any], shot: Mapping[str, Any]) -> Iterator[Any]:
    """An op's results with each output's beauty taken back into the shot's working space; failures pass as they are."""
    space = working_space(shot)
    for item in items:
        buffers = getattr(item, "buffers", None)
        yield item if space is None or buffers is None else replace(item, buffers=space.buffers_out(buffers))
