"""The FrameBridge panel in Render properties: op, prompts, conditions, temporal consistency, output."""

from __future__ import annotations

import bpy

from .passes import CONDITIONS

__all__ = ["classes", "register", "unregister"]


class FRAMEBRIDGE_UL_prompt_keys(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        row = layout.row(align=True)
        row.prop(item, "frame", text="", emboss=False)
        row.prop(item, "prompt", text="", emboss=False)


def _draw_key_list(layout, settings, collection: str, index: str, add_operator: str) -> None:
    """A key list (its UI list is ``FRAMEBRIDGE_UL_<collection>``) with add and remove buttons beside it."""
    row = layout.row()
    row.template_list(f"FRAMEBRIDGE_UL_{collection}", "", settings, collection, settings, index, rows=3)
    column = row.column(align=True)
    column.operator(add_operator, icon="ADD", text="")
    column.operator("framebridge.key_remove", icon="REMOVE", text="").collection = collection


class _RenderPanel:
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"


class FRAMEBRIDGE_PT_main(_RenderPanel, bpy.types.Panel):
    bl_label = "FrameBridge"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.framebridge
        layout = self.layout
        layout.use_property_split = True
        row = layout.row(align=True)
        row.prop(settings, "op")
        row.prop(settings, "backend", text="")
        layout.prop(settings, "prompt")
        layout.prop(settings, "negative_prompt")
        layout.prop(settings, "strength")
        layout.prop(settings, "seed")
        layout.prop(settings, "extra_params")
        row = layout.row()
        row.operator("framebridge.render_restyle", icon="RENDER_ANIMATION")
        row.operator("framebridge.extract_conditions", icon="IMAGE_DATA")
        layout.operator("framebridge.test_connection", icon="LINKED")


class FRAMEBRIDGE_PT_prompt_keys(_RenderPanel, bpy.types.Panel):
    bl_label = "Prompt Keys"
    bl_parent_id = "FRAMEBRIDGE_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        _draw_key_list(self.layout, context.scene.framebridge, "prompt_keys", "prompt_key_index", "framebridge.prompt_key_add")


class FRAMEBRIDGE_UL_keyframes(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        row = layout.row(align=True)
        row.prop(item, "frame", text="", emboss=False)
        row.prop(item, "image", text="")


class FRAMEBRIDGE_PT_propagate(_RenderPanel, bpy.types.Panel):
    bl_label = "Propagate Keyframes"
    bl_parent_id = "FRAMEBRIDGE_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        _draw_key_list(self.layout, context.scene.framebridge, "keyframes", "keyframe_index", "framebridge.keyframe_add")
        self.layout.operator("framebridge.propagate", icon="SEQ_SEQUENCER")


class FRAMEBRIDGE_PT_conditions(_RenderPanel, bpy.types.Panel):
    bl_label = "Conditions"
    bl_parent_id = "FRAMEBRIDGE_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.framebridge
        for condition in CONDITIONS:
            row = self.layout.row()
            row.prop(settings, f"use_{condition}")
            weight = row.row()
            weight.active = getattr(settings, f"use_{condition}")
            weight.prop(settings, f"{condition}_weight")
        if settings.use_pose:
            self.layout.prop(settings, "joint_mapping")
            if settings.joint_mapping == "CUSTOM":
                self.layout.prop(settings, "joint_mapping_text")


class FRAMEBRIDGE_PT_temporal(_RenderPanel, bpy.types.Panel):
    bl_label = "Temporal Consistency"
    bl_parent_id = "FRAMEBRIDGE_PT_main"

    def draw_header(self, context: bpy.types.Context) -> None:
        self.layout.prop(context.scene.framebridge, "temporal", text="")

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.framebridge
        self.layout.use_property_split = True
        self.layout.active = settings.temporal
        self.layout.prop(settings, "temporal_strength")


class FRAMEBRIDGE_PT_output(_RenderPanel, bpy.types.Panel):
    bl_label = "Output"
    bl_parent_id = "FRAMEBRIDGE_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.framebridge
        self.layout.use_property_split = True
        self.layout.prop(settings, "output_folder")
        self.layout.prop(settings, "placement")


classes = (
    FRAMEBRIDGE_UL_prompt_keys,
    FRAMEBRIDGE_PT_main,
    FRAMEBRIDGE_PT_prompt_keys,
    FRAMEBRIDGE_UL_keyframes,
    FRAMEBRIDGE_PT_propagate,
    FRAMEBRIDGE_PT_conditions,
    FRAMEBRIDGE_PT_temporal,
    FRAMEBRIDGE_PT_output,
)
register, unregister = bpy.utils.register_classes_factory(classes)
