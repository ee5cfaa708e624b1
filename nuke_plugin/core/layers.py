"""Which Nuke layers a job needs, and the knob values of the internal nodes that write them.

A node's output is written by a temporary Write node to float EXR, one file per
frame, then read back with :func:`framebridge.protocol.exr.read_frame`, which maps
Nuke's layer names onto canonical buffers (``rgba`` -> beauty, ``depth.Z``,
``N``/``normals``, ``forward``/``backward`` motion, Cryptomatte). Only the layers
the op needs are kept: a Remove node in ``keep`` mode holds at most four layers, so
a job needing more writes ``all`` channels and drops the rest when reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from framebridge.protocol import passes
from framebridge.protocol.errors import InvalidParams, MissingInput

__all__ = [
    "NUKE_LAYERS",
    "CONDITION_INPUTS",
    "LayerPlan",
    "layers_of",
    "plan_layers",
    "available_conditions",
    "remove_knobs",
    "write_knobs",
]

# Canonical buffer -> Nuke layer names that hold it, in order of preference (matched case-insensitively).
NUKE_LAYERS: dict[str, tuple[str, ...]] = {
    passes.BEAUTY: ("rgba",),
    passes.DEPTH: ("depth",),
    passes.NORMAL: ("N", "normals", "normal"),
    passes.MOTION_FORWARD: ("forward",),
    passes.MOTION_BACKWARD: ("backward",),
    passes.OBJECT_INDEX: ("CryptoObject00", "IndexOB"),
    passes.MATERIAL_INDEX: ("CryptoMaterial00", "IndexMA"),
}

# Condition -> the buffers it is made from (any one of them for segmentation).
CONDITION_INPUTS: dict[str, tuple[str, ...]] = {
    "depth": (passes.DEPTH,),
    "normal": (passes.NORMAL,),
    "segmentation": (passes.OBJECT_INDEX, passes.MATERIAL_INDEX),
    "canny": (passes.BEAUTY,),
    "lineart": (passes.BEAUTY,),
}

_MAX_REMOVE_LAYERS = 4


@dataclass(frozen=True)
class LayerPlan:
    """The buffers a job sends and the Nuke layers written to get them."""

    buffers: tuple[str, ...]
    layers: tuple[str, ...]


def layers_of(channels: Iterable[str]) -> list[str]:
    """Layer names of a node's channels (``node.channels()``: ``rgba.red``, ``depth.Z``, ...), in order."""
    return list(dict.fromkeys(channel.split(".", 1)[0] for channel in channels if "." in channel))


def _find(buffer: str, available: Mapping[str, str]) -> str | None:
    return next((available[name.lower()] for name in NUKE_LAYERS[buffer] if name.lower() in available), None)


def plan_layers(op: str, conditions: Iterable[str], temporal: bool, channels: Iterable[str]) -> LayerPlan:
    """The layers to write for ``op`` from a node whose output has ``channels``.

    ``extract`` needs each condition's inputs and refuses a missing one; ``restyle``
    needs ``rgba`` and takes depth, motion (when temporal) and the conditions' passes
    when the node has them; ``propagate`` needs ``rgba`` and takes the motion, depth
    and object ids it finds; ``echo`` sends every layer that maps to a buffer.
    """
    conditions = list(conditions)
    available = {layer.lower(): layer for layer in layers_of(channels)}
    if "pose" in conditions:
        raise InvalidParams("the pose condition needs armature joints, which a Nuke image does not carry",
                            fix="extract pose in Blender, or untick pose")
    unknown = sorted(set(conditions) - set(CONDITION_INPUTS))
    if unknown:
        raise InvalidParams(f"unknown conditions {unknown}", details={"allowed": [*CONDITION_INPUTS, "pose"]})
    wanted: list[str] = []
    if op == "extract":
        for condition in conditions:
            present = [buffer for buffer in CONDITION_INPUTS[condition] if _find(buffer, available)]
            if not present:
                layers = [name for buffer in CONDITION_INPUTS[condition] for name in NUKE_LAYERS[buffer]]
                raise MissingInput(
                    f"the {condition} condition needs one of the layers {layers}; the input has {sorted(available.values())}",
                    fix=f"bring the pass into the stream (e.g. Shuffle or Copy it into '{layers[0]}') or untick {condition}",
                    details={"condition": condition, "layers": layers},
                )
            wanted.append(present[0])
    elif op == "restyle":
        if not _find(passes.BEAUTY, available):
            raise MissingInput(f"restyle needs the rgba layer; the input has {sorted(available.values())}")
        wanted.append(passes.BEAUTY)
        optional = [passes.DEPTH]
        if temporal:
            optional += [passes.MOTION_BACKWARD, passes.MOTION_FORWARD]
        for condition in conditions:
            optional += CONDITION_INPUTS[condition]
        wanted += [buffer for buffer in optional if _find(buffer, available)]
    elif op == "propagate":
        if not _find(passes.BEAUTY, available):
            raise MissingInput(f"propagate needs the shot's rgba layer; input 0 has {sorted(available.values())}")
        optional = [passes.MOTION_BACKWARD, passes.MOTION_FORWARD, passes.DEPTH, passes.OBJECT_INDEX]
        wanted = [passes.BEAUTY] + [buffer for buffer in optional if _find(buffer, available)]
    else:
        wanted = [buffer for buffer in NUKE_LAYERS if _find(buffer, available)]
        if not wanted:
            raise MissingInput(f"the input has no layer FrameBridge can send; it has {sorted(available.values())}")
    buffers = tuple(dict.fromkeys(wanted))
    layers = tuple(dict.fromkeys(_find(buffer, available) for buffer in buffers))
    return LayerPlan(buffers, layers)  # type: ignore[arg-type]


def available_conditions(channels: Iterable[str]) -> list[str]:
    """The conditions a node's layers can make (canny and lineart from rgba), in :data:`CONDITION_INPUTS` order."""
    available = {layer.lower(): layer for layer in layers_of(channels)}
    return [condition for condition, buffers in CONDITION_INPUTS.items() if any(_find(buffer, available) for buffer in buffers)]


def remove_knobs(layers: Iterable[str]) -> dict[str, object] | None:
    """Knob values of a Remove node keeping only ``layers``; None when no Remove is needed or possible.

    A Remove node has four layer knobs (``channels`` ... ``channels4``); rgba alone
    needs none, since the Write's ``channels`` knob can say ``rgba``.
    """
    layers = list(layers)
    if layers == ["rgba"] or len(layers) > _MAX_REMOVE_LAYERS:
        return None
    knobs: dict[str, object] = {"operation": "keep"}
    for index, layer in enumerate(layers):
        knobs["channels" if index == 0 else f"channels{index + 1}"] = layer
    return knobs


def write_knobs(file_pattern: str, layers: Iterable[str], first: int, last: int, view: str) -> dict[str, object]:
    """Knob values of the internal Write node, in the order to set them (``file_type`` first: the EXR knobs appear with it).

    32-bit float, lossless zip, ``raw`` so the working-space (scene-linear) values
    are written untouched, and exactly one ``view``: an empty ``views`` knob would
    render every view of a stereo script into the same files.
    """
    layers = list(layers)
    return {
        "file_type": "exr",
        "file": file_pattern,
        "views": view,
        "channels": "rgba" if layers == ["rgba"] else "all",
        "datatype": "32 bit float",
        "compression": "Zip (1 scanline)",
        "raw": True,
        "create_directories": True,
        "use_limit": True,
        "first": int(first),
        "last": int(last),
    }
