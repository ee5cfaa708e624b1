"""Sequencer operator: run ``expression`` on the active image strip (the plate) with another strip as the driver,
and place the result as a new image strip above the plate (Strip menu: "FrameBridge Expression").

Blocking, with the window manager's progress; errors are reported with
:meth:`Operator.report`. Blender 4.4+ calls strips ``strips``, earlier ``sequences``.
"""

from __future__ import annotations

import os

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from framebridge.protocol.client import DoneEvent, ResultEvent
from framebridge.protocol.errors import FrameBridgeError, InvalidParams, MissingInput
from framebridge.protocol.exr import write_exr
from framebridge.protocol.sequence import StagedSequence
from framebridge.protocol.session import connect

from . import comms
from .expression_strips import REGIONS, channel_above, image_strip_frames, plan_expression, srgb_to_linear
from .placement import plan_placement
from .preferences import connection_settings

__all__ = ["FRAMEBRIDGE_OT_expression_strip", "register", "unregister"]


def _strips(scene: bpy.types.Scene):
    editor = scene.sequence_editor
    if editor is None:
        return None
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def _shown_files(strip) -> dict[int, str]:
    if strip.type != "IMAGE":
        raise InvalidParams(f"strip {strip.name!r} is a {strip.type.lower()} strip; expression takes image strips",
                            fix="render or convert the clip to an image sequence and add it as an image strip")
    return image_strip_frames(bpy.path.abspath(strip.directory), [element.filename for element in strip.elements],
                              strip.frame_start, strip.frame_final_start, strip.frame_final_end)


def read_linear(path: str) -> np.ndarray:
    """(H, W, 4) scene-linear float32, rows top to bottom, of an image file Blender can load."""
    image = bpy.data.images.load(path, check_existing=False)
    try:
        width, height = image.size
        pixels = np.empty(width * height * 4, np.float32)
        image.pixels.foreach_get(pixels)
        rgba = pixels.reshape(height, width, 4)[::-1].copy()
        if not image.is_float and image.colorspace_settings.name == "sRGB":
            rgba[..., :3] = srgb_to_linear(rgba[..., :3])
        return rgba
    finally:
        bpy.data.images.remove(image)


class FRAMEBRIDGE_OT_expression_strip(bpy.types.Operator):
    """Move the face in the active image strip as the face in the driver strip moves (FrameBridge expression)"""

    bl_idname = "framebridge.expression_strip"
    bl_label = "FrameBridge Expression"
    bl_options = {"REGISTER"}

    driver: StringProperty(name="Driver Strip", default="",
                           description="The strip with the performance; empty: the other selected strip")
    regions: EnumProperty(name="Regions", options={"ENUM_FLAG"}, default={region.upper() for region in REGIONS},
                          items=[(region.upper(), region.capitalize(), f"move the {region}") for region in REGIONS])
    driving_offset: IntProperty(name="Driver Offset", default=0,
                                description="Plate frame n is paired with the driver strip's frame n + offset")
    reference_frame: IntProperty(name="Reference Frame", default=-1,
                                 description="The driver's neutral scene frame; -1: its first frame")
    smoothing: FloatProperty(name="Smoothing", default=0.5, min=0.0, max=1.0)
    connection_file: StringProperty(name="Connection File", default="", options={"SKIP_SAVE"})
    output_folder: StringProperty(name="Output Folder", default="", subtype="DIR_PATH", options={"SKIP_SAVE"},
                                  description="Where the result EXRs go; empty: //framebridge/<strip>_expression")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        editor = context.scene.sequence_editor if context.scene else None
        active = editor.active_strip if editor is not None and hasattr(editor, "active_strip") else None
        return active is not None and active.type == "IMAGE"

    def _driver(self, context: bpy.types.Context, plate):
        strips = _strips(context.scene)
        if self.driver:
            driver = strips.get(self.driver)
            if driver is None:
                raise MissingInput(f"there is no strip named {self.driver!r}")
            return driver
        others = [strip for strip in strips if strip.select and strip != plate]
        if len(others) != 1:
            raise MissingInput("select the driver strip too (or name it in Driver Strip)",
                               fix="select the plate and the driver strips, the plate active")
        return others[0]

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            strip = self._run(context)
        except FrameBridgeError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"FrameBridge expression: {strip.name} on channel {strip.channel}")
        return {"FINISHED"}

    def _run(self, context: bpy.types.Context):
        scene = context.scene
        plate = scene.sequence_editor.active_strip
        driver = self._driver(context, plate)
        plate_files = _shown_files(plate)
        job = plan_expression(plate_files, _shown_files(driver), regions={name.lower() for name in self.regions},
                              offset=self.driving_offset, smoothing=self.smoothing,
                              reference_frame=None if self.reference_frame < 0 else self.reference_frame)
        folder = bpy.path.abspath(self.output_folder) if self.output_folder else \
            bpy.path.abspath(f"//framebridge/{plate.name}_expression")
        if not os.path.isabs(folder):
            folder = os.path.abspath(folder)

        def source(number: int) -> dict[str, np.ndarray]:
            return {"beauty": read_linear(plate_files[number]), "driving": read_linear(job.driving[number])}

        staged = StagedSequence(folder, write_exr)
        window_manager = context.window_manager
        window_manager.progress_begin(0, len(job.frames))
        client = connect(connection_settings(context, self.connection_file))
        warnings: dict[int, list[str]] = {}
        try:
            comms.check_server(client, "expression")
            submitted = client.submit("expression", job.frames, source, params=job.params, keep_results=False,
                                      job_buffers={"reference": read_linear(job.reference)})
            done = None
            for event in submitted:
                if isinstance(event, ResultEvent):
                    staged.add(event.frame, {"beauty": event.buffers["beauty"]})
                    window_manager.progress_update(len(staged.frames))
                elif isinstance(event, DoneEvent):
                    done = event
            if done is None or done.failed or done.error:
                failures = "; ".join(f"frame {number}: {error}" for number, error in sorted((done.failed if done else {}).items()))
                raise (done.error if done and done.error else
                       FrameBridgeError(f"expression did not finish; nothing was placed. {failures}".strip()))
            warnings = done.warnings
            staged.publish()
        except BaseException:
            staged.discard()
            raise
        finally:
            client.close()
            window_manager.progress_end()
        for number, messages in sorted(warnings.items()):
            self.report({"WARNING"}, f"frame {number}: {' '.join(messages)}")
        return _place_above(scene, plate, plan_placement("SEQUENCER", folder, job.frames, f"{plate.name} expression"))


def _place_above(scene: bpy.types.Scene, plate, placement):
    """The result as an image strip on the first free channel above the plate, replacing an earlier run's strip."""
    strips = _strips(scene)
    existing = strips.get(placement.name)
    if existing is not None:
        strips.remove(existing)
    channel = channel_above(plate.channel, (plate.frame_final_start, plate.frame_final_end),
                            [(strip.channel, strip.frame_final_start, strip.frame_final_end) for strip in strips])
    strip = strips.new_image(name=placement.name, filepath=placement.first_path, channel=channel,
                             frame_start=placement.frame_start)
    for filename in placement.files[1:]:
        strip.elements.append(filename)
    return strip


def _menu(self, context: bpy.types.Context) -> None:
    self.layout.separator()
    self.layout.operator(FRAMEBRIDGE_OT_expression_strip.bl_idname)


def register() -> None:
    bpy.utils.register_class(FRAMEBRIDGE_OT_expression_strip)
    bpy.types.SEQUENCER_MT_strip.append(_menu)


def unregister() -> None:
    bpy.types.SEQUENCER_MT_strip.remove(_menu)
    bpy.utils.unregister_class(FRAMEBRIDGE_OT_expression_strip)
