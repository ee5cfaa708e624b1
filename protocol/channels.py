"""Which EXR channels hold which canonical pass, for Blender and Nuke files.

A channel name is ``[prefix.]layer.channel``: Blender multilayer files name them
``<ViewLayer>.<Pass>.<channel>`` (``ViewLayer.Depth.Z``, ``ViewLayer.Object Index.X``),
Nuke files ``<layer>.<channel>`` (``depth.Z``, ``forward.u``) or bare ``R``, ``G``,
``B``, ``A``. :data:`PASS_TABLE` lists, per layer name (case-insensitive), the
canonical buffers it fills, the channels in component order and a sign per
component; :func:`find_buffers` applies it to the channel names of a file.

Motion conventions (canonical: pixels, x right, y down; see :mod:`.passes`):

- Blender ``Vector``: ``X, Y`` = previous position - current position and
  ``Z, W`` = current position - next position, in pixels with y up (measured on
  frames Blender renders in the test suite). So ``motion_backward = (X, -Y)`` and
  ``motion_forward = (-Z, W)``.
- Nuke ``backward.u/v`` and ``forward.u/v``: displacement to the pixel's place in
  the previous / next frame, pixels, v up (Nuke's image origin is bottom-left).
  So ``motion_backward = (u, -v)`` and ``motion_forward = (u, -v)``.

Cryptomatte layers (``CryptoObject00``, ``CryptoMaterial00``) fill the index
buffers from the rank-0 id: the float's bit pattern masked to 24 bits, which a
float32 holds exactly and which stays the same for an object in every frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from . import passes

__all__ = ["BufferSource", "PASS_TABLE", "find_buffers", "split_channel"]

VALUE = "value"
CRYPTOMATTE = "cryptomatte"


@dataclass(frozen=True)
class LayerRule:
    """How one host layer fills one canonical buffer."""

    buffer: str
    components: tuple[tuple[str, ...], ...]  # per component, the channel names accepted (case-insensitive)
    signs: tuple[float, ...]
    required: int  # components that must exist (beauty's alpha is optional)
    decode: str = VALUE


@dataclass(frozen=True)
class BufferSource:
    """The file channels that make one canonical buffer, and how to turn them into it."""

    buffer: str
    channels: tuple[str, ...]
    signs: tuple[float, ...]
    decode: str = VALUE


_RGBA = (("r", "red"), ("g", "green"), ("b", "blue"), ("a", "alpha"))
_XYZ = (("x", "r", "red"), ("y", "g", "green"), ("z", "b", "blue"))
_Z = (("z", "x", "r", "red", "depth"),)
_INDEX = (("x", "r", "red", "id"),)
_UV = (("u", "x", "r", "red"), ("v", "y", "g", "green"))


def _beauty() -> LayerRule:
    return LayerRule(passes.BEAUTY, _RGBA, (1.0, 1.0, 1.0, 1.0), required=3)


def _normal() -> LayerRule:
    return LayerRule(passes.NORMAL, _XYZ, (1.0, 1.0, 1.0), required=3)


def _depth() -> LayerRule:
    return LayerRule(passes.DEPTH, _Z, (1.0,), required=1)


PASS_TABLE: dict[str, tuple[LayerRule, ...]] = {
    # Beauty: Blender's Combined pass, Nuke's rgba layer, bare R G B A.
    "combined": (_beauty(),),
    "rgba": (_beauty(),),
    "": (_beauty(), LayerRule(passes.DEPTH, (("z",),), (1.0,), required=1)),
    # Depth along the camera axis, scene units.
    "depth": (_depth(),),
    # World-space normals.
    "normal": (_normal(),),
    "normals": (_normal(),),
    "n": (_normal(),),
    # Motion (see the module docstring for the measured conventions).
    "vector": (
        LayerRule(passes.MOTION_BACKWARD, (("x",), ("y",)), (1.0, -1.0), required=2),
        LayerRule(passes.MOTION_FORWARD, (("z",), ("w",)), (-1.0, 1.0), required=2),
    ),
    "backward": (LayerRule(passes.MOTION_BACKWARD, _UV, (1.0, -1.0), required=2),),
    "forward": (LayerRule(passes.MOTION_FORWARD, _UV, (1.0, -1.0), required=2),),
    # Integer ids.
    "object index": (LayerRule(passes.OBJECT_INDEX, _INDEX, (1.0,), required=1),),
    "indexob": (LayerRule(passes.OBJECT_INDEX, _INDEX, (1.0,), required=1),),
    "material index": (LayerRule(passes.MATERIAL_INDEX, _INDEX, (1.0,), required=1),),
    "indexma": (LayerRule(passes.MATERIAL_INDEX, _INDEX, (1.0,), required=1),),
    "cryptoobject00": (LayerRule(passes.OBJECT_INDEX, (("r", "red"),), (1.0,), required=1, decode=CRYPTOMATTE),),
    "cryptomaterial00": (LayerRule(passes.MATERIAL_INDEX, (("r", "red"),), (1.0,), required=1, decode=CRYPTOMATTE),),
}


def split_channel(name: str) -> tuple[str, str, str]:
    """``(prefix, layer, channel)``: ``ViewLayer.Object Index.X`` -> ``("ViewLayer", "Object Index", "X")``."""
    head, _, channel = name.rpartition(".")
    prefix, _, layer = head.rpartition(".")
    return prefix, layer, channel


def find_buffers(channel_names: Iterable[str]) -> dict[str, BufferSource]:
    """The canonical buffers a file's channels can fill; the first layer in file order wins.

    Channels of layers not in :data:`PASS_TABLE` are ignored; a layer missing a
    required component fills nothing.
    """
    layers: dict[tuple[str, str], dict[str, str]] = {}
    for name in channel_names:
        prefix, layer, channel = split_channel(name)
        layers.setdefault((prefix, layer.lower()), {}).setdefault(channel.lower(), name)
    found: dict[str, BufferSource] = {}
    for (prefix, layer), channels in layers.items():
        for rule in PASS_TABLE.get(layer, ()):
            if rule.buffer in found:
                continue
            picked: list[str] = []
            for accepted in rule.components:
                match = next((channels[key] for key in accepted if key in channels), None)
                if match is None:
                    break
                picked.append(match)
            if len(picked) >= rule.required:
                found[rule.buffer] = BufferSource(rule.buffer, tuple(picked), rule.signs[: len(picked)], rule.decode)
    return found
