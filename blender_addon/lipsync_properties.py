"""Scene settings of the lip-sync tool: where the audio comes from, the transcript, and the shape -> shape-key mapping."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, IntProperty, PointerProperty, StringProperty

from .lipsync_keys import SHAPES

__all__ = ["FrameBridgeLipsyncSettings", "mapping_of", "register", "unregister"]

_DESCRIPTIONS = {
    "A": "Closed, lips pressed (P, B, M)", "B": "Slightly open, clenched teeth (most consonants, EE)",
    "C": "Open (EH, AE)", "D": "Wide open (AA)", "E": "Slightly rounded (AO, ER)", "F": "Puckered (UW, OW, W)",
    "G": "Teeth on lower lip (F, V)", "H": "Tongue raised (long L)", "X": "Rest, mouth idle",
}


def _mapping_properties() -> dict:
    return {f"key_{shape}": StringProperty(name=shape, default=shape,
                                           description=f"Shape key for {_DESCRIPTIONS[shape]}; empty leaves it out")
            for shape in SHAPES}


class FrameBridgeLipsyncSettings(bpy.types.PropertyGroup):
    """Lip-sync: audio source, transcript, how to key, and which shape key each mouth shape drives."""

    __annotations__ = {
        "source": EnumProperty(name="Audio", items=[
            ("STRIP", "Sound Strip", "The audio of a sound strip in the Sequencer; keys stay inside the strip"),
            ("FILE", "File", "An audio file starting at the Start Frame"),
        ], default="STRIP"),
        "sound_strip": StringProperty(name="Sound Strip", default="", description="Sequencer sound strip (empty: the active one)"),
        "audio_file": StringProperty(name="Audio File", default="", subtype="FILE_PATH"),
        "start_frame": IntProperty(name="Start Frame", default=1, description="The frame the audio file starts on"),
        "transcript": PointerProperty(name="Transcript", type=bpy.types.Text,
                                      description="What is said (a Text block); aligning to it gives better cues"),
        "style": EnumProperty(name="Keys", items=[
            ("CONSTANT", "2D (Constant)", "One shape at a time, stepped keys"),
            ("CROSSFADE", "3D (Crossfade)", "Each shape's weight per frame, blended linearly"),
        ], default="CONSTANT"),
        "cue_file": StringProperty(name="Rhubarb JSON", default="", subtype="FILE_PATH",
                                   description="An existing Rhubarb Lip Sync JSON file to import"),
        **_mapping_properties(),
    }


def mapping_of(settings: FrameBridgeLipsyncSettings) -> dict[str, str]:
    """Mouth shape -> shape-key name, as the user set it."""
    return {shape: getattr(settings, f"key_{shape}").strip() for shape in SHAPES}


classes = (FrameBridgeLipsyncSettings,)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register_classes()
    bpy.types.Scene.framebridge_lipsync = PointerProperty(type=FrameBridgeLipsyncSettings)


def unregister() -> None:
    del bpy.types.Scene.framebridge_lipsync
    _unregister_classes()
