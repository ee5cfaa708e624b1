"""The panel's settings: one property group on the Scene, ``scene.framebridge``.

Strength, seed and temporal strength are ordinary animatable properties: key
them like anything else and every frame is sent with its own value. Blender
cannot keyframe strings, so the prompt changes over the shot through prompt
keys (frame -> prompt), which become the op's prompt keyframes.
"""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .joints import PRESETS
from .passes import CONDITIONS

__all__ = ["FrameBridgePromptKey", "FrameBridgeKeyframe", "FrameBridgeSettings", "settings_of", "register", "unregister"]

_PLACEMENT_ITEMS = [
    ("SEQUENCER", "Sequencer Strip", "Add an image strip over the frame range in the Video Sequencer"),
    ("COMPOSITOR", "Compositor Node", "Add or update an Image node in the scene's compositor"),
    ("CAMERA_BACKGROUND", "Camera Background", "Show the result behind the scene in the camera view"),
    ("IMAGE_EDITOR", "Image Editor", "Show the result in open Image Editors"),
    ("NONE", "Files Only", "Only write the EXR sequence"),
]
_MAPPING_ITEMS = [("AUTO", "Detect", "Pick Rigify, Mixamo or Simple per armature from its bone names")] + [
    (name, name.title(), f"The {name.title()} bone names") for name in PRESETS
] + [("CUSTOM", "Custom Text", 'A Text datablock holding JSON {"neck": "bone:head", ...}')]


class FrameBridgePromptKey(bpy.types.PropertyGroup):
    """The prompt from this frame on."""

    frame: IntProperty(name="Frame", default=1)
    prompt: StringProperty(name="Prompt", default="")


class FrameBridgeKeyframe(bpy.types.PropertyGroup):
    """A painted (or generated) keyframe for `propagate`: an image for one frame of the shot."""

    frame: IntProperty(name="Frame", default=1, description="The frame this image is the look of")
    image: PointerProperty(name="Image", type=bpy.types.Image,
                           description="The keyframe: an image file, or an image painted in the Image Editor")


def _condition_properties() -> dict:
    properties = {}
    defaults = {"depth": True, "pose": True}
    for condition in CONDITIONS:
        properties[f"use_{condition}"] = BoolProperty(name=condition.title(), default=defaults.get(condition, False),
                                                      description=f"Send the {condition} condition")
        properties[f"{condition}_weight"] = FloatProperty(name="Weight", default=1.0, min=0.0, max=2.0,
                                                          description=f"ControlNet weight of the {condition} condition")
    return properties


class FrameBridgeSettings(bpy.types.PropertyGroup):
    """What to send, how, and where the results go."""

    __annotations__ = {
        "op": StringProperty(name="Op", default="restyle", description="Server op to run (restyle; echo for diagnostics)"),
        "backend": StringProperty(name="Backend", default="cpu", description="Server backend; empty for the op's default"),
        "prompt": StringProperty(name="Prompt", default=""),
        "negative_prompt": StringProperty(name="Negative Prompt", default=""),
        "prompt_keys": CollectionProperty(type=FrameBridgePromptKey, name="Prompt Keys"),
        "prompt_key_index": IntProperty(default=0),
        "strength": FloatProperty(name="Strength", default=0.5, min=0.0, max=1.0, description="How far the result may move from the render"),
        "seed": IntProperty(name="Seed", default=0, min=0),
        **_condition_properties(),
        "temporal": BoolProperty(name="Temporal Consistency", default=True,
                                 description="Carry the previous result along the render's motion vectors"),
        "temporal_strength": FloatProperty(name="Temporal Strength", default=0.5, min=0.0, max=1.0),
        "extra_params": StringProperty(name="Extra Params", default="",
                                       description='Op or backend params as JSON, e.g. {"look": "watercolour"}'),
        "output_folder": StringProperty(name="Output Folder", default="//framebridge/", subtype="DIR_PATH"),
        "placement": EnumProperty(name="Place Results", items=_PLACEMENT_ITEMS, default="SEQUENCER"),
        "joint_mapping": EnumProperty(name="Bone Mapping", items=_MAPPING_ITEMS, default="AUTO"),
        "joint_mapping_text": PointerProperty(name="Mapping Text", type=bpy.types.Text),
        "keyframes": CollectionProperty(type=FrameBridgeKeyframe, name="Keyframes"),
        "keyframe_index": IntProperty(default=0),
    }


def settings_of(scene: bpy.types.Scene) -> FrameBridgeSettings:
    return scene.framebridge


classes = (FrameBridgePromptKey, FrameBridgeKeyframe, FrameBridgeSettings)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register_classes()
    bpy.types.Scene.framebridge = PointerProperty(type=FrameBridgeSettings)


def unregister() -> None:
    del bpy.types.Scene.framebridge
    _unregister_classes()
