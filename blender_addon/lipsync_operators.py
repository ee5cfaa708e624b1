"""Lip-sync operators: key the active object's shape keys from dialogue, or from an existing Rhubarb JSON file.

The audio comes from a Sequencer sound strip (time 0 at the strip's start, keys
only inside the strip) or from a file starting at the Start Frame; it is read
with Blender's own ``aud`` and sent once to the server's ``lipsync`` op. Each run
is one undo step and replaces only the keys the previous run wrote.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import bpy
from bpy.props import StringProperty

from framebridge.protocol.client import DoneEvent, ResultEvent
from framebridge.protocol.errors import FrameBridgeError, InvalidParams, MediaError
from framebridge.protocol.session import connect

from .lipsync_keys import (
    OWNER_PROPERTY,
    FrameCues,
    OwnedKeys,
    frame_cues_from_results,
    frame_cues_from_rhubarb,
    lipsync_params,
    mono,
    parse_rhubarb_json,
    plan_keys,
)
from .lipsync_properties import mapping_of
from .preferences import connection_settings

__all__ = ["FRAMEBRIDGE_OT_lipsync_keys", "FRAMEBRIDGE_OT_lipsync_import", "register", "unregister"]


@dataclass
class _Timing:
    """Where audio time 0 falls (a possibly fractional frame) and the frames that may be keyed."""

    start_frame: int
    offset: float
    frames: range
    path: str


def _fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


def _timing(context: bpy.types.Context, seconds: float | None) -> _Timing:
    """From the sound strip, or the file and Start Frame (``seconds`` long when known)."""
    settings, scene = context.scene.framebridge_lipsync, context.scene
    if settings.source == "STRIP":
        editor = scene.sequence_editor
        strip = None
        if editor is not None:
            strips = getattr(editor, "strips_all", None) or editor.sequences_all  # renamed in Blender 5.0
            strip = strips.get(settings.sound_strip) if settings.sound_strip else editor.active_strip
        if strip is None or strip.type != "SOUND":
            raise InvalidParams("no sound strip to take the audio from",
                                fix="add a sound strip in the Sequencer and name it in Sound Strip (or make it active)")
        if strip.sound.packed_file is not None:
            raise MediaError(f"the sound of strip {strip.name!r} is packed in the .blend", fix="unpack it to a file")
        start = math.floor(strip.frame_start)
        return _Timing(start, strip.frame_start - start, range(int(strip.frame_final_start), int(strip.frame_final_end)),
                       bpy.path.abspath(strip.sound.filepath))
    path = bpy.path.abspath(settings.audio_file)
    length = math.ceil((seconds or 0.0) * _fps(scene))
    return _Timing(settings.start_frame, 0.0, range(settings.start_frame, settings.start_frame + max(length, 1)), path)


def _shape_keys(context: bpy.types.Context):
    target = context.active_object
    key = getattr(getattr(target, "data", None), "shape_keys", None)
    if key is None:
        raise InvalidParams("the active object has no shape keys", fix="select a mesh with shape keys named for the mouth shapes")
    return key


def _usable_mapping(context: bpy.types.Context, key) -> tuple[dict[str, str], list[str]]:
    """The mapping limited to shape keys that exist, and the shapes left out."""
    mapping = mapping_of(context.scene.framebridge_lipsync)
    usable = {shape: name for shape, name in mapping.items() if name and name in key.key_blocks}
    if not usable:
        raise InvalidParams("none of the mapped shape keys exist on the active object",
                            fix="name shape keys A..H, X or edit the mapping in the Lip-Sync panel")
    return usable, sorted(shape for shape in mapping if shape not in usable)


def _fcurves(key) -> list:
    """The F-curves animating ``key`` (slotted actions from Blender 4.4, plain action F-curves before)."""
    animation = key.animation_data
    if animation is None or animation.action is None:
        return []
    action = animation.action
    if not hasattr(action, "slots"):
        return list(action.fcurves)
    from bpy_extras import anim_utils

    bag = anim_utils.action_get_channelbag_for_slot(action, animation.action_slot)
    return list(bag.fcurves) if bag is not None else []


def _apply(key, cues: FrameCues, mapping: dict[str, str], style: str, frames: range) -> int:
    """Remove the keys the last run wrote, key the new plan, remember it; the number of keys written."""
    owned = OwnedKeys(key.get(OWNER_PROPERTY))
    for fcurve in _fcurves(key):
        points = fcurve.keyframe_points
        for index in reversed(range(len(points))):
            if owned.owns(fcurve.data_path, points[index].co[0]):
                points.remove(points[index])
    plan = plan_keys(cues, mapping, style, frames)
    for name, keys in plan.items():
        block = key.key_blocks[name]
        for frame, value in keys:
            block.value = value
            block.keyframe_insert("value", frame=frame)
    key[OWNER_PROPERTY] = owned.record(plan)
    interpolation = "CONSTANT" if style == "CONSTANT" else "LINEAR"
    for fcurve in _fcurves(key):
        for point in fcurve.keyframe_points:
            if owned.owns(fcurve.data_path, point.co[0]):
                point.interpolation = interpolation
        fcurve.update()
    return sum(len(keys) for keys in plan.values())


def _report_done(operator: bpy.types.Operator, written: int, left_out: list[str], notes: list[str]) -> None:
    message = f"Lip-sync: {written} keys"
    if left_out:
        message += f"; no shape key for {', '.join(left_out)}"
    operator.report({"INFO"}, "; ".join([message, *notes]))


class FRAMEBRIDGE_OT_lipsync_keys(bpy.types.Operator):
    """Key the active object's shape keys from the dialogue of a sound strip or file (FrameBridge lipsync)"""

    bl_idname = "framebridge.lipsync_keys"
    bl_label = "Lip-Sync Shape Keys"
    bl_options = {"REGISTER", "UNDO"}

    connection_file: StringProperty(name="Connection File", default="", options={"SKIP_SAVE"},
                                    description="Use this connection file instead of the preferences'")

    def execute(self, context: bpy.types.Context) -> set[str]:
        import aud

        settings = context.scene.framebridge_lipsync
        try:
            key = _shape_keys(context)
            mapping, left_out = _usable_mapping(context, key)
            timing = _timing(context, None)
            if not os.path.isfile(timing.path):
                raise MediaError(f"no audio file at {timing.path}")
            sound = aud.Sound(timing.path)
            samples, rate = mono(sound.data()), sound.specs[0]
            if settings.source == "FILE":
                timing = _timing(context, len(samples) / rate)
            extended = "".join(shape for shape in "GHX" if shape in mapping)
            transcript = settings.transcript.as_string() if settings.transcript else None
            params = lipsync_params(rate, _fps(context.scene), timing.start_frame, transcript=transcript,
                                    extended_shapes=extended, offset=timing.offset, sound_file=timing.path)
            results, notes = self._cues(context, list(timing.frames), params, samples)
            written = _apply(key, frame_cues_from_results(results), mapping, settings.style, timing.frames)
        except FrameBridgeError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        _report_done(self, written, left_out, notes)
        return {"FINISHED"}

    def _cues(self, context, frames, params, samples):
        client = connect(connection_settings(context, self.connection_file))
        results, notes = {}, []
        try:
            job = client.submit("lipsync", frames, lambda number: {}, params=params, job_buffers={"audio": samples},
                                keep_results=False)
            for event in job:
                if isinstance(event, ResultEvent):
                    results[event.frame] = (event.buffers, event.meta)
                    notes.extend(event.meta.get("notes", []))
                elif isinstance(event, DoneEvent) and (event.error or event.failed):
                    raise event.error or next(iter(event.failed.values()))
        finally:
            client.close()
        return results, notes


class FRAMEBRIDGE_OT_lipsync_import(bpy.types.Operator):
    """Key the active object's shape keys from an existing Rhubarb Lip Sync JSON file"""

    bl_idname = "framebridge.lipsync_import"
    bl_label = "Import Rhubarb JSON"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.framebridge_lipsync
        try:
            key = _shape_keys(context)
            mapping, left_out = _usable_mapping(context, key)
            path = bpy.path.abspath(settings.cue_file)
            if not os.path.isfile(path):
                raise MediaError(f"no Rhubarb JSON file at {path}")
            with open(path, encoding="utf-8") as handle:
                cues = parse_rhubarb_json(handle.read())
            timing = _timing(context, max((end for _, end, _ in cues), default=0.0))
            frame_cues = frame_cues_from_rhubarb(cues, _fps(context.scene), timing.start_frame + timing.offset,
                                                 timing.frames)
            written = _apply(key, frame_cues, mapping, settings.style, timing.frames)
        except FrameBridgeError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        _report_done(self, written, left_out, [])
        return {"FINISHED"}


classes = (FRAMEBRIDGE_OT_lipsync_keys, FRAMEBRIDGE_OT_lipsync_import)
register, unregister = bpy.utils.register_classes_factory(classes)
