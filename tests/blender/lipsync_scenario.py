"""The lip-sync operators in a fresh bpy process; writes the shape-key F-curves it saw after each run to a JSON report.

    python tests/blender/lipsync_scenario.py --report R.json --connection-file F --wav line.wav
        --transcript "text" --cue-json cues.json --strip-start 10

A mesh gets shape keys Basis, A..H, X and the user's own "Smile"; the user keys
A at frame 1 (before the strip) and Smile at frame 20 (inside it). Then: keys from
the sound strip (2D, twice), 3D crossfades, and an import of a Rhubarb JSON file.
"""

from __future__ import annotations

import argparse
import json

import bpy
from bpy_extras import anim_utils

from framebridge import blender_addon


def build(wav: str, strip_start: int, transcript: str):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    mesh = bpy.data.meshes.new("Face")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    face = bpy.data.objects.new("Face", mesh)
    scene.collection.objects.link(face)
    bpy.context.view_layer.objects.active = face
    for name in ["Basis", *"ABCDEFGHX", "Smile"]:
        face.shape_key_add(name=name)
    blocks = mesh.shape_keys.key_blocks
    blocks["A"].value = 0.3
    blocks["A"].keyframe_insert("value", frame=1)
    blocks["Smile"].value = 0.7
    blocks["Smile"].keyframe_insert("value", frame=20)
    strip = scene.sequence_editor_create().strips.new_sound("line", wav, 1, strip_start)
    text = bpy.data.texts.new("line.txt")
    text.write(transcript)
    return scene, mesh.shape_keys, strip, text


def keys_of(key) -> dict:
    animation = key.animation_data
    bag = anim_utils.action_get_channelbag_for_slot(animation.action, animation.action_slot)
    return {fcurve.data_path: [[point.co[0], round(point.co[1], 4), point.interpolation] for point in fcurve.keyframe_points]
            for fcurve in bag.fcurves}


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--report", "--connection-file", "--wav", "--transcript", "--cue-json"):
        parser.add_argument(name, required=True)
    parser.add_argument("--strip-start", type=int, default=10)
    args = parser.parse_args()
    scene, key, strip, text = build(args.wav, args.strip_start, args.transcript)
    blender_addon.register()
    settings = scene.framebridge_lipsync
    settings.source, settings.sound_strip, settings.transcript, settings.style = "STRIP", "line", text, "CONSTANT"
    report = {"strip": [strip.frame_start, strip.frame_final_start, strip.frame_final_end], "runs": {}}
    results = []
    for run in ("constant", "constant_again"):
        results.append(bpy.ops.framebridge.lipsync_keys(connection_file=args.connection_file))
        report["runs"][run] = keys_of(key)
    settings.style = "CROSSFADE"
    results.append(bpy.ops.framebridge.lipsync_keys(connection_file=args.connection_file))
    report["runs"]["crossfade"] = keys_of(key)
    settings.style, settings.cue_file = "CONSTANT", args.cue_json
    results.append(bpy.ops.framebridge.lipsync_import())
    report["runs"]["imported"] = keys_of(key)
    report["results"] = [sorted(result) for result in results]
    bpy.context.view_layer.objects.active = None
    try:
        bpy.ops.framebridge.lipsync_keys(connection_file=args.connection_file)
        report["no_object"] = "finished"
    except RuntimeError as error:  # bpy.ops raises what an operator reports as an error
        report["no_object"] = str(error)
    blender_addon.unregister()
    with open(args.report, "w") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    main()
