"""Which render settings a capture needs, and the user's settings kept as plain data to put back.

A setting is addressed as ``"<root>.<attribute>"`` where the root is one of
``view_layer``, ``render``, ``image_settings`` (the scene's output format) or
``cycles``; the Blender side reads and writes them with ``getattr``/``setattr``.
The order of :func:`capture_settings` is the order to apply them in (Blender 5.0
needs ``media_type`` before ``file_format``), and :meth:`Snapshot.restore_order`
puts them back in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from framebridge.protocol.errors import InvalidParams

__all__ = ["CONDITIONS", "CONDITION_PASSES", "needed_passes", "capture_settings", "Snapshot"]

CONDITIONS = ("depth", "normal", "pose", "segmentation", "canny")

# The view-layer pass each condition is built from; pose comes from the armatures, canny from the beauty.
CONDITION_PASSES: dict[str, tuple[str, ...]] = {
    "depth": ("use_pass_z",),
    "normal": ("use_pass_normal",),
    "segmentation": ("use_pass_object_index",),
    "pose": (),
    "canny": (),
}
TEMPORAL_PASSES = ("use_pass_vector",)


def needed_passes(conditions: Iterable[str], temporal: bool) -> list[str]:
    """The view-layer ``use_pass_*`` flags the conditions (and motion for temporal consistency) need."""
    passes: list[str] = ["use_pass_combined"]
    for condition in conditions:
        if condition not in CONDITION_PASSES:
            raise InvalidParams(f"unknown condition {condition!r}", details={"allowed": list(CONDITIONS)})
        passes.extend(CONDITION_PASSES[condition])
    if temporal:
        passes.extend(TEMPORAL_PASSES)
    return list(dict.fromkeys(passes))


def capture_settings(conditions: Iterable[str], temporal: bool, *, has_media_type: bool) -> dict[str, Any]:
    """Every setting a capture changes, in the order to apply it: passes on, float multilayer EXR output.

    The capture wants the render passes themselves: the compositor and the
    sequencer are off (a placed result strip would otherwise replace the render,
    and a compositor without an output writes no file). Cycles writes no Vector
    pass while motion blur is on, so temporal consistency turns motion blur off.
    """
    settings: dict[str, Any] = {f"view_layer.{name}": True for name in needed_passes(conditions, temporal)}
    settings["render.use_compositing"] = False
    settings["render.use_sequencer"] = False
    if temporal:
        settings["render.use_motion_blur"] = False
    if has_media_type:
        settings["image_settings.media_type"] = "MULTI_LAYER_IMAGE"
    settings["image_settings.file_format"] = "OPEN_EXR_MULTILAYER"
    settings["image_settings.color_depth"] = "32"
    settings["image_settings.exr_codec"] = "ZIP"
    return settings


@dataclass(frozen=True)
class Snapshot:
    """The user's values of the settings a capture changes, taken before it changes them."""

    values: dict[str, Any]

    @classmethod
    def take(cls, keys: Iterable[str], read) -> Snapshot:
        """Read each key with ``read(key)`` (the host's getter)."""
        return cls({key: read(key) for key in keys})

    def changes(self, wanted: dict[str, Any]) -> dict[str, Any]:
        """The wanted settings that differ from the snapshot, in order."""
        return {key: value for key, value in wanted.items() if self.values.get(key) != value}

    def restore_order(self) -> list[tuple[str, Any]]:
        """``(key, user value)`` pairs to write back, in the order they were taken."""
        return list(self.values.items())
