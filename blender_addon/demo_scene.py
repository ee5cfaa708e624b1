"""A small test scene with known geometry, rendered to multilayer EXRs with every pass.

The scene is built so a test can check each pass against numbers it knows:

- the camera sits at (0, -10, 0) looking along +Y (world +Z is image up);
- ``Backdrop``: a plane at y = 0, facing the camera (depth 10), pass index 3;
- ``Near``: a smooth sphere of radius 0.75 at (-1, -5, 0) (nearest depth 4.25), pass index 1;
- ``Mover``: a unit cube whose front face is at depth 6.5, pass index 2, moving right
  and up as seen from the camera, faster every frame: from frame n-1 to frame n it
  moves by ``n * MOVER_STEP`` (world units), so motion to the previous and to the
  next frame differ and cannot be mistaken for each other.

:func:`render_frames` writes ``frame_####.exr`` (one EXR part per pass, the camera's
world-from-camera matrix in the header's stamp note) and a
``scene.json`` next to them with, per frame, the camera's world-from-camera matrix
and the centre of the mover's front face projected to pixels (x right, y down from
the top-left corner; also for the frames just outside the range), so motion passes
can be checked against Blender's own projection.

Run headless: ``python demo_scene.py --out DIR --frames 3 --width 96 --height 64``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from framebridge.protocol.camera_metadata import camera_note

__all__ = ["MOVER_STEP", "build_scene", "render_frames", "add_crossing_motion"]

MOVER_STEP = (0.25, 0.0, 0.125)
MOVER_START = (0.25, -3.0, -0.5)
MOVER_FRONT = (0.0, -0.5, 0.0)
PASS_INDEX = {"Near": 1, "Mover": 2, "Backdrop": 3}


def build_scene(width: int = 96, height: int = 64, frames: int = 3, samples: int = 4, cryptomatte: bool = True) -> bpy.types.Scene:
    """Replace the open file with the test scene; frames run from 1 to ``frames``.

    Passes: Combined, Depth, Normal, Vector, Object and Material Index, and with
    ``cryptomatte`` the object and material Cryptomatte layers.
    """
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, frames
    _setup_render(scene, width, height, samples)
    scene.view_layers[0].use_pass_cryptomatte_object = cryptomatte
    scene.view_layers[0].use_pass_cryptomatte_material = cryptomatte
    _add_camera(scene)
    _add_light(scene)
    _add_backdrop(scene)
    _add_near_sphere(scene)
    _add_mover(scene, frames)
    return scene


def render_frames(out_dir: str | os.PathLike[str], scene: bpy.types.Scene | None = None) -> list[Path]:
    """Render every frame of the scene to ``out_dir/frame_####.exr`` and write ``scene.json``."""
    scene = scene or bpy.context.scene
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    frames: dict[str, dict[str, object]] = {}
    for number in range(scene.frame_start, scene.frame_end + 1):
        scene.frame_set(number)
        path = out / f"frame_{number:04d}.exr"
        scene.render.filepath = str(path)
        scene.render.stamp_note_text = camera_note(scene.camera.matrix_world)
        bpy.ops.render.render(write_still=True)
        written.append(path)
        frames[str(number)] = {"camera_matrix": [list(row) for row in scene.camera.matrix_world]}
    mover = scene.objects["Mover"]
    mover_pixels = {}
    for number in range(scene.frame_start - 1, scene.frame_end + 2):
        scene.frame_set(number)
        mover_pixels[str(number)] = _project_to_pixels(scene, mover.matrix_world.translation + Vector(MOVER_FRONT))
    metadata = {
        "width": scene.render.resolution_x,
        "height": scene.render.resolution_y,
        "focal_pixels": _focal_pixels(scene),
        "pass_index": PASS_INDEX,
        "mover_step": list(MOVER_STEP),
        "mover_pixels": mover_pixels,
        "frames": frames,
    }
    temp = out / "scene.json.tmp"
    temp.write_text(json.dumps(metadata, indent=1))
    os.replace(temp, out / "scene.json")
    return written


def _setup_render(scene: bpy.types.Scene, width: int, height: int, samples: int) -> None:
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    # A tiny pixel filter keeps index and vector passes from blending across object edges.
    scene.cycles.filter_width = 0.01
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    # The Vector pass is only written when motion blur is off.
    scene.render.use_motion_blur = False
    scene.render.use_compositing = False
    scene.render.use_sequencer = False
    scene.render.use_stamp_note = True  # each frame's camera goes into the EXR header (render_frames sets the note)
    settings = scene.render.image_settings
    settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"
    settings.exr_codec = "ZIP"
    layer = scene.view_layers[0]
    for flag in ("use_pass_combined", "use_pass_z", "use_pass_normal", "use_pass_vector", "use_pass_object_index", "use_pass_material_index"):
        setattr(layer, flag, True)
    scene.world = bpy.data.worlds.new("World")
    scene.world.color = (0.05, 0.05, 0.05)


def _add_camera(scene: bpy.types.Scene) -> None:
    data = bpy.data.cameras.new("Camera")
    data.lens, data.sensor_width, data.sensor_fit = 50.0, 36.0, "HORIZONTAL"
    camera = bpy.data.objects.new("Camera", data)
    camera.location = (0.0, -10.0, 0.0)
    camera.rotation_euler = (math.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(camera)
    scene.camera = camera


def _add_light(scene: bpy.types.Scene) -> None:
    light = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    light.data.energy = 3.0
    light.rotation_euler = (math.radians(60), 0.0, math.radians(20))
    scene.collection.objects.link(light)


def _material(name: str, colour: tuple[float, float, float], index: int, checker: bool = False) -> bpy.types.Material:
    """A Principled BSDF of ``colour`` (Cycles renders the node tree; ``diffuse_color`` is only the viewport's)."""
    material = bpy.data.materials.new(name)
    material.diffuse_color = (*colour, 1.0)
    material.pass_index = index
    if material.node_tree is None:
        material.use_nodes = True
    nodes = material.node_tree.nodes
    shader = next(node for node in nodes if node.type == "BSDF_PRINCIPLED")
    shader.inputs["Base Color"].default_value = (*colour, 1.0)
    if checker:
        texture = nodes.new("ShaderNodeTexChecker")
        texture.inputs["Scale"].default_value = 6.0
        texture.inputs["Color1"].default_value = (*colour, 1.0)
        texture.inputs["Color2"].default_value = (*(channel * 0.55 for channel in colour), 1.0)
        material.node_tree.links.new(texture.outputs["Color"], shader.inputs["Base Color"])
    return material


def _link(scene: bpy.types.Scene, obj: bpy.types.Object, colour: tuple[float, float, float], checker: bool = False) -> None:
    obj.pass_index = PASS_INDEX[obj.name]
    obj.data.materials.append(_material(obj.name, colour, PASS_INDEX[obj.name], checker))
    scene.collection.objects.link(obj)


def _mesh_object(name: str, build) -> bpy.types.Object:
    import bmesh

    mesh = bpy.data.meshes.new(name)
    geometry = bmesh.new()
    build(geometry)
    geometry.to_mesh(mesh)
    geometry.free()
    return bpy.data.objects.new(name, mesh)


def _add_backdrop(scene: bpy.types.Scene) -> None:
    import bmesh

    backdrop = _mesh_object("Backdrop", lambda geometry: bmesh.ops.create_grid(geometry, x_segments=1, y_segments=1, size=10.0))
    # The grid faces +Z; a quarter turn about X makes it face -Y, towards the camera.
    backdrop.rotation_euler = (math.pi / 2, 0.0, 0.0)
    _link(scene, backdrop, (0.75, 0.62, 0.4), checker=True)


def _add_near_sphere(scene: bpy.types.Scene) -> None:
    import bmesh

    sphere = _mesh_object("Near", lambda geometry: bmesh.ops.create_uvsphere(geometry, u_segments=48, v_segments=24, radius=0.75))
    for polygon in sphere.data.polygons:
        polygon.use_smooth = True
    sphere.location = (-1.0, -5.0, 0.0)
    _link(scene, sphere, (0.8, 0.2, 0.2))


def _add_mover(scene: bpy.types.Scene, frames: int) -> None:
    import bmesh

    cube = _mesh_object("Mover", lambda geometry: bmesh.ops.create_cube(geometry, size=1.0))
    _link(scene, cube, (0.15, 0.35, 0.9))
    bpy.context.preferences.edit.keyframe_new_interpolation_type = "LINEAR"
    # Keys one frame beyond each end, so the Vector pass sees motion on both sides of every frame.
    for number in range(0, frames + 2):
        travelled = number * (number + 1) / 2
        cube.location = tuple(start + step * travelled for start, step in zip(MOVER_START, MOVER_STEP))
        cube.keyframe_insert("location", frame=number)
    scene.frame_set(1)


def add_crossing_motion(scene: bpy.types.Scene, pan: float = 1.0, flat: bool = True) -> None:
    """Animate the shot so objects occlude each other and leave the frame while the camera pans.

    The ``Near`` sphere slides from left to right across the shot, in front of the
    ``Mover`` (which leaves the frame on its own); the camera pans by ``pan`` units.
    With ``flat``, shadows and specular highlights are off, so a surface looks the
    same in every frame and a per-pixel style of the render is a fair reference.
    """
    bpy.context.preferences.edit.keyframe_new_interpolation_type = "LINEAR"
    first, last = scene.frame_start - 1, scene.frame_end + 1
    sphere, camera = scene.objects["Near"], scene.camera
    for number in range(first, last + 1):
        progress = (number - first) / (last - first)
        sphere.location.x = -2.5 + 4.5 * progress
        sphere.keyframe_insert("location", frame=number)
        camera.location.x = pan * (progress - 0.5)
        camera.location.z = 0.25 * pan * (progress - 0.5)
        camera.keyframe_insert("location", frame=number)
    if flat:
        for light in (obj for obj in scene.objects if obj.type == "LIGHT"):
            light.data.use_shadow = False
        for material in bpy.data.materials:
            shader = next((node for node in material.node_tree.nodes if node.type == "BSDF_PRINCIPLED"), None)
            if shader is not None:
                shader.inputs["Specular IOR Level"].default_value = 0.0
                shader.inputs["Roughness"].default_value = 1.0
    scene.frame_set(scene.frame_start)


def _focal_pixels(scene: bpy.types.Scene) -> float:
    camera = scene.camera.data
    return camera.lens / camera.sensor_width * scene.render.resolution_x


def _project_to_pixels(scene: bpy.types.Scene, point: Vector) -> list[float]:
    """A world point in pixels, x right and y down from the top-left corner of the image."""
    ndc = world_to_camera_view(scene, scene.camera, point)
    return [ndc.x * scene.render.resolution_x, (1.0 - ndc.y) * scene.render.resolution_y]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render the FrameBridge test scene to multilayer EXRs.")
    parser.add_argument("--out", required=True, help="folder for frame_####.exr and scene.json")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--no-cryptomatte", dest="cryptomatte", action="store_false", help="leave the Cryptomatte layers out")
    parser.add_argument("--crossing", type=float, metavar="PAN", help="objects cross and the camera pans by PAN units (flat shading)")
    args = parser.parse_args(argv)
    scene = build_scene(args.width, args.height, args.frames, args.samples, args.cryptomatte)
    if args.crossing is not None:
        add_crossing_motion(scene, args.crossing)
    for path in render_frames(args.out, scene):
        print(path)


if __name__ == "__main__":
    main()
