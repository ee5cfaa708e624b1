"""The FrameBridge Lip-Sync panel in Object Data properties, beside the shape keys it drives."""

from __future__ import annotations

import bpy

from .lipsync_keys import SHAPES

__all__ = ["classes", "register", "unregister"]


class FRAMEBRIDGE_PT_lipsync(bpy.types.Panel):
    bl_label = "FrameBridge Lip-Sync"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "data"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.object is not None and getattr(context.object.data, "shape_keys", None) is not None

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.framebridge_lipsync
        layout = self.layout
        layout.use_property_split = True
        layout.prop(settings, "source")
        if settings.source == "STRIP":
            layout.prop(settings, "sound_strip")
        else:
            layout.prop(settings, "audio_file")
            layout.prop(settings, "start_frame")
        layout.prop(settings, "transcript")
        layout.prop(settings, "style")
        column = layout.column(heading="Shape Keys", align=True)
        for shape in SHAPES:
            column.prop_search(settings, f"key_{shape}", context.object.data.shape_keys, "key_blocks", text=shape)
        layout.operator("framebridge.lipsync_keys", icon="SPEAKER")
        row = layout.row(align=True)
        row.prop(settings, "cue_file", text="")
        row.operator("framebridge.lipsync_import", text="Import", icon="IMPORT")


classes = (FRAMEBRIDGE_PT_lipsync,)
register, unregister = bpy.utils.register_classes_factory(classes)
