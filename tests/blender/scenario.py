"""Scenarios the Blender tests run in a fresh bpy process each, writing what they saw to a JSON report.

    python tests/blender/scenario.py SCENARIO --report R.json [--extension ZIP] [--connection-file F] [--out DIR] [--op OP]

Scenarios: ``restyle`` (render 3 frames through the op, place as strip, node and
camera background, check the user's settings), ``propagate`` (two keyframe images
carried through 3 frames, placed as a strip), ``cancel`` (cancel after the first
result), ``unreachable`` (a server that does not answer), ``joints`` (project the
test rig's known pose), ``save`` (save the test scene as a .blend for the headless
command). Without ``--extension`` the add-on is registered as the module
``framebridge.blender_addon``; with it, the zip is installed and enabled as an
extension (set ``BLENDER_USER_RESOURCES`` to a temporary folder).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from pathlib import Path

import bpy

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "blender_addon"))
import demo_scene  # noqa: E402  (engineer A's test scene: camera at (0, -10, 0) looking along +Y, a moving cube)

WIDTH, HEIGHT = 64, 48
# The test rig (bone names of the SIMPLE preset), standing at y = -2 (depth 8), facing the camera.
RIG_BONES = {
    "neck": ((0.0, -2.0, 0.8), (0.0, -2.0, 1.0)),
    "head": ((0.0, -2.0, 1.0), (0.0, -2.0, 1.3)),
    "upper_arm.R": ((-0.3, -2.0, 0.8), (-0.9, -2.0, 0.8)),
    "forearm.R": ((-0.9, -2.0, 0.8), (-1.2, -2.0, 0.8)),
    "upper_arm.L": ((0.3, -2.0, 0.8), (0.9, -2.0, 0.8)),
    "forearm.L": ((0.9, -2.0, 0.8), (1.2, -2.0, 0.8)),
    "thigh.R": ((-0.2, -2.0, -0.2), (-0.2, -2.0, -0.8)),
    "shin.R": ((-0.2, -2.0, -0.8), (-0.2, -2.0, -1.4)),
    "thigh.L": ((0.2, -2.0, -0.2), (0.2, -2.0, -0.8)),
    "shin.L": ((0.2, -2.0, -0.8), (0.2, -2.0, -1.4)),
}
PARENTS = {"head": "neck", "forearm.R": "upper_arm.R", "forearm.L": "upper_arm.L", "shin.R": "thigh.R", "shin.L": "thigh.L"}
# The known pose: the right forearm bent up by 90 degrees about its local X axis (world +Y for a bone along -X, roll 0),
# so the right wrist (forearm.R tail) is at (-0.9, -2, 1.1) instead of (-1.2, -2, 0.8).
POSED_WRIST = (-0.9, -2.0, 1.1)


def build_scene() -> bpy.types.Scene:
    scene = demo_scene.build_scene(width=WIDTH, height=HEIGHT, frames=3, samples=2)
    rig = add_rig(scene)
    rig.pose.bones["forearm.R"].rotation_mode = "XYZ"
    rig.pose.bones["forearm.R"].rotation_euler = (math.pi / 2, 0.0, 0.0)
    # The user's own settings, which a capture must leave as they were.
    layer = scene.view_layers[0]
    layer.use_pass_z = layer.use_pass_normal = layer.use_pass_vector = layer.use_pass_object_index = False
    settings = scene.render.image_settings
    settings.media_type = "IMAGE"
    settings.file_format = "PNG"
    settings.color_depth = "8"
    scene.render.filepath = "//user_renders/shot_"
    scene.render.use_motion_blur = True
    scene.render.use_compositing = scene.render.use_sequencer = True  # Blender's defaults
    scene.frame_set(2)
    return scene


def add_rig(scene: bpy.types.Scene) -> bpy.types.Object:
    armature = bpy.data.armatures.new("Rig")
    rig = bpy.data.objects.new("Rig", armature)
    scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    for name, (head, tail) in RIG_BONES.items():
        bone = armature.edit_bones.new(name)
        bone.head, bone.tail, bone.roll = head, tail, 0.0
    for child, parent in PARENTS.items():
        armature.edit_bones[child].parent = armature.edit_bones[parent]
        armature.edit_bones[child].use_connect = True
    bpy.ops.object.mode_set(mode="OBJECT")
    return rig


def user_settings(scene: bpy.types.Scene) -> dict:
    layer = scene.view_layers[0]
    settings = scene.render.image_settings
    return {
        "passes": {name: getattr(layer, name) for name in ("use_pass_z", "use_pass_normal", "use_pass_vector", "use_pass_object_index")},
        "media_type": settings.media_type,
        "file_format": settings.file_format,
        "color_depth": settings.color_depth,
        "filepath": scene.render.filepath,
        "use_motion_blur": scene.render.use_motion_blur,
        "use_single_layer": scene.render.use_single_layer,
        "use_compositing": scene.render.use_compositing,
        "use_sequencer": scene.render.use_sequencer,
        "exr_codec": settings.exr_codec,
        "frame_current": scene.frame_current,
    }


def enable_addon(extension: str | None):
    if extension:
        result = bpy.ops.extensions.package_install_files(filepath=extension, repo="user_default", enable_on_install=True)
        assert result == {"FINISHED"}, result
        return importlib.import_module("bl_ext.user_default.framebridge")
    addon = importlib.import_module("framebridge.blender_addon")
    addon.register()
    return addon


def configure(scene: bpy.types.Scene, op: str, out: str) -> None:
    settings = scene.framebridge
    settings.op = op
    settings.backend = "cpu" if op == "restyle" else ""
    settings.prompt = "an oil painting"
    settings.use_depth = settings.use_pose = settings.use_normal = True
    settings.temporal = True
    settings.output_folder = out
    settings.placement = "SEQUENCER"
    # Animate the strength so it travels as keyframes.
    settings.strength = 0.3
    settings.keyframe_insert("strength", frame=1)
    settings.strength = 0.6
    settings.keyframe_insert("strength", frame=3)


def scenario_restyle(arguments, report: dict) -> None:
    scene = build_scene()
    report["before"] = user_settings(scene)
    addon = enable_addon(arguments.extension)
    report["addon_module"] = addon.__name__
    configure(scene, arguments.op, arguments.out)
    started = time.perf_counter()
    result = bpy.ops.framebridge.render_restyle(connection_file=arguments.connection_file)
    report["seconds"] = time.perf_counter() - started
    report["result"] = sorted(result)
    report["after"] = user_settings(scene)
    strip = scene.sequence_editor.strips.get(f"FrameBridge {arguments.op}")
    report["strip"] = {"directory": bpy.path.abspath(strip.directory), "files": [e.filename for e in strip.elements],
                       "frame_start": strip.frame_start, "frame_final_duration": strip.frame_final_duration}
    shot_run = importlib.import_module(addon.__name__ + ".shot_run")
    placement = importlib.import_module(addon.__name__ + ".placement")
    delivery = importlib.import_module(addon.__name__ + ".delivery")
    from framebridge.protocol.sequence import existing_frames

    frames = existing_frames(arguments.out)
    name = f"FrameBridge {arguments.op}"
    node = delivery.place(scene, placement.plan_placement("COMPOSITOR", arguments.out, frames, name))
    report["node"] = {"image": bpy.path.abspath(node.image.filepath), "source": node.image.source,
                      "frame_start": node.frame_start, "frame_duration": node.frame_duration, "frame_offset": node.frame_offset,
                      "tree": scene.compositing_node_group.name}
    background = delivery.place(scene, placement.plan_placement("CAMERA_BACKGROUND", arguments.out, frames, name))
    report["background"] = {"image": bpy.path.abspath(background.image.filepath), "frame_start": background.image_user.frame_start}
    # Again, now that a strip and a compositor node hold the results: the capture must still see the 3D render.
    report["second_result"] = sorted(bpy.ops.framebridge.render_restyle(connection_file=arguments.connection_file))
    strips = scene.sequence_editor.strips
    report["strips_after_second"] = [strip.name for strip in strips]
    report["shot_run_module"] = shot_run.__name__


def scenario_cancel(arguments, report: dict) -> None:
    scene = build_scene()
    report["before"] = user_settings(scene)
    addon = enable_addon(arguments.extension)
    configure(scene, arguments.op, arguments.out)
    if arguments.op == "echo":
        scene.framebridge.extra_params = '{"delay": 0.5}'
    shot_run = importlib.import_module(addon.__name__ + ".shot_run")
    preferences = importlib.import_module(addon.__name__ + ".preferences")
    # What the modal operator does on each timer tick, and on Esc once the first result is staged.
    run = shot_run.ShotRun(scene, bpy.context.view_layer, preferences.connection_settings(bpy.context, arguments.connection_file))
    try:
        while not run.advance(0.05) and not (run.sequence and run.sequence.frames):
            pass
        report["requested_params"] = run.requested_params
        report["shot"] = run.shot
        report["staged_before_cancel"] = list(run.sequence.frames) if run.sequence else []
        report["staging_existed"] = bool(run.sequence and run.sequence.staging.exists())
        run.cancel()
        report["job_state"] = run.finished.state
    finally:
        run.close()
    report["after"] = user_settings(scene)
    report["files"] = sorted(str(p.relative_to(arguments.out)) for p in Path(arguments.out).rglob("*")) if Path(arguments.out).exists() else []
    from framebridge.protocol.client import Client
    from framebridge.protocol.messages import StatusRequest

    client = Client(arguments.connection_file)
    try:
        cancelled_at = time.perf_counter()
        while (state := client.request(StatusRequest(), job=run.runner.job.id).body.state) == "running":
            if time.perf_counter() - cancelled_at > 30:
                break
            time.sleep(0.05)
        report["server_state"] = state
        report["server_stop_seconds"] = time.perf_counter() - cancelled_at
    finally:
        client.close()


def scenario_extract(arguments, report: dict) -> None:
    scene = build_scene()
    enable_addon(arguments.extension)
    configure(scene, "restyle", arguments.out)
    scene.framebridge.use_segmentation = scene.framebridge.use_canny = True
    result = bpy.ops.framebridge.extract_conditions(connection_file=arguments.connection_file, output_folder=arguments.out)
    report["result"] = sorted(result)
    report["images"] = {image.name: list(image.size) for image in bpy.data.images if image.name.startswith("FrameBridge ")}
    report["after"] = user_settings(scene)


def scenario_propagate(arguments, report: dict) -> None:
    """Two keyframe images (frame 1 float and linear, frame 3 8-bit sRGB as a painted PNG would be) carried through 3 frames."""
    scene = build_scene()
    enable_addon(arguments.extension)
    configure(scene, "restyle", arguments.out)
    float_key = bpy.data.images.new("Key 1", WIDTH, HEIGHT, alpha=True, float_buffer=True)
    float_key.pixels[:] = [0.25, 0.5, 0.75, 1.0] * (WIDTH * HEIGHT)
    byte_key = bpy.data.images.new("Key 3", WIDTH, HEIGHT, alpha=True, float_buffer=False)
    byte_key.pixels[:] = [0.5, 0.5, 0.5, 1.0] * (WIDTH * HEIGHT)  # sRGB 0.5 = linear 0.214
    settings = scene.framebridge
    for _ in range(2):
        bpy.ops.framebridge.prompt_key_add()
        bpy.ops.framebridge.keyframe_add()
    bpy.ops.framebridge.key_remove(collection="prompt_keys")
    report["key_lists"] = [len(settings.prompt_keys), settings.prompt_key_index, len(settings.keyframes), settings.keyframe_index]
    bpy.ops.framebridge.key_remove(collection="keyframes")
    bpy.ops.framebridge.key_remove(collection="keyframes")
    report["key_lists"] += [len(settings.keyframes), settings.keyframe_index]
    for frame, image in ((1, float_key), (3, byte_key)):
        key = scene.framebridge.keyframes.add()
        key.frame, key.image = frame, image
    result = bpy.ops.framebridge.propagate(connection_file=arguments.connection_file, output_folder=arguments.out)
    report["result"] = sorted(result)
    strip = scene.sequence_editor.strips.get("FrameBridge propagate")
    report["strip"] = None if strip is None else [element.filename for element in strip.elements]
    report["after"] = user_settings(scene)
    small = bpy.data.images.new("Small", 8, 8)
    key = scene.framebridge.keyframes.add()
    key.frame, key.image = 2, small
    try:
        bpy.ops.framebridge.propagate(connection_file=arguments.connection_file, output_folder=arguments.out + "_again")
    except RuntimeError as error:  # an operator that reports an error raises it under bpy.ops
        report["wrong_size_error"] = str(error)


def modal_driver(shot_operator: type, connection_file: str) -> type:
    """A stand-in for the shot operator that borrows its methods; ``invoke`` would add a modal handler, which needs a window."""

    class Driver:
        modal, _end, _done, _start, _output_folder = (shot_operator.modal, shot_operator._end, shot_operator._done,
                                                      shot_operator._start, shot_operator._output_folder)
        frames, output_folder, op_name, placement = "", "", "", None

        def __init__(self):
            self.connection_file = connection_file
            self.reports = []

        def report(self, kind, text):
            self.reports.append([sorted(kind)[0], text])

    return Driver


def scenario_modal(arguments, report: dict) -> None:
    """The operator's modal handler, fed timer events and then Esc as Blender's event loop would (bpy has none)."""
    from types import SimpleNamespace

    scene = build_scene()
    report["before"] = user_settings(scene)
    addon = enable_addon(arguments.extension)
    configure(scene, arguments.op, arguments.out)
    scene.framebridge.extra_params = '{"delay": 0.3}' if arguments.op == "echo" else ""
    operators = importlib.import_module(addon.__name__ + ".operators")
    Driver = modal_driver(operators._ShotOperator, arguments.connection_file)
    window_manager = bpy.context.window_manager
    for name, stop_after in (("completed", None), ("escaped", 1)):
        driver = Driver()
        driver._run = driver._start(bpy.context)
        driver._timer = window_manager.event_timer_add(0.05, window=bpy.context.window)
        window_manager.progress_begin(0, 100)
        statuses, outcome = [], None
        while outcome is None:
            if stop_after is not None and driver._run.sequence and len(driver._run.sequence.frames) >= stop_after:
                outcome = driver.modal(bpy.context, SimpleNamespace(type="ESC"))
            else:
                result = driver.modal(bpy.context, SimpleNamespace(type="TIMER"))
                statuses.append(driver._run.status)
                outcome = None if result == {"RUNNING_MODAL"} else result
        report[name] = {"outcome": sorted(outcome), "reports": driver.reports, "statuses": sorted(set(statuses)),
                        "files": sorted(p.name for p in Path(arguments.out).iterdir()) if Path(arguments.out).exists() else [],
                        "after": user_settings(scene)}
        if name == "completed":
            for path in Path(arguments.out).glob("frame_*.exr"):
                path.unlink()


def scenario_render_error(arguments, report: dict) -> None:
    """The modal handler when Blender's render raises on frame 2: cancelled with one report, everything restored."""
    from types import SimpleNamespace

    scene = build_scene()
    report["before"] = user_settings(scene)
    addon = enable_addon(arguments.extension)
    configure(scene, arguments.op, arguments.out)
    operators = importlib.import_module(addon.__name__ + ".operators")
    capture = importlib.import_module(addon.__name__ + ".capture")
    Driver = modal_driver(operators._ShotOperator, arguments.connection_file)

    class FailingRenderBpy:
        """``bpy`` as the capture module sees it, except that rendering raises as Blender does on a render error."""

        def __getattr__(self, name):
            return getattr(bpy, name)

        @staticmethod
        def _render(**kwargs):
            raise RuntimeError("Error: Render error (out of memory) in 'Scene'")

        ops = SimpleNamespace(render=SimpleNamespace(render=_render))

    window_manager = bpy.context.window_manager
    driver = Driver()
    driver._run = driver._start(bpy.context)
    driver._timer = window_manager.event_timer_add(0.05, window=bpy.context.window)
    window_manager.progress_begin(0, 100)
    folder = driver._run.capture.folder
    outcome = driver.modal(bpy.context, SimpleNamespace(type="TIMER"))  # frame 1 renders for real
    report["first_tick"] = sorted(outcome)
    report["settings_changed_during_capture"] = user_settings(scene) != report["before"]
    capture.bpy = FailingRenderBpy()
    try:
        report["outcome"] = sorted(driver.modal(bpy.context, SimpleNamespace(type="TIMER")))
    finally:
        capture.bpy = bpy
    report["reports"] = driver.reports
    report["after"] = user_settings(scene)
    report["temp_renders_left"] = folder.exists()
    report["connection_closed"] = driver._run.client is None
    report["files"] = sorted(p.name for p in Path(arguments.out).iterdir()) if Path(arguments.out).exists() else []


def scenario_unreachable(arguments, report: dict) -> None:
    build_scene()
    enable_addon(arguments.extension)
    bpy.context.scene.framebridge.output_folder = arguments.out
    try:
        bpy.ops.framebridge.render_restyle(connection_file=arguments.connection_file)
        report["raised"] = None
    except RuntimeError as error:
        # Blender turns an operator's ERROR report into a RuntimeError for Python callers.
        report["raised"] = str(error)
    report["after"] = user_settings(bpy.context.scene)
    try:
        bpy.ops.framebridge.test_connection(connection_file=arguments.connection_file)
        report["test_connection"] = None
    except RuntimeError as error:
        report["test_connection"] = str(error)


def scenario_joints(arguments, report: dict) -> None:
    scene = build_scene()
    addon = enable_addon(arguments.extension)
    capture = importlib.import_module(addon.__name__ + ".capture")
    shot_run = importlib.import_module(addon.__name__ + ".shot_run")
    joints = importlib.import_module(addon.__name__ + ".joints")
    scene.frame_set(1)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    rig = scene.objects["Rig"].evaluated_get(depsgraph)
    report["posed_wrist_world"] = list(rig.matrix_world @ rig.pose.bones["forearm.R"].tail)
    people = capture.frame_joints(scene, depsgraph, shot_run.mapping_resolver(scene.framebridge))
    report["shape"] = list(people.shape)
    report["joints"] = {name: people[0, index].tolist() for index, name in enumerate(joints.COCO_JOINTS)}
    report["focal_pixels"] = scene.camera.data.lens / scene.camera.data.sensor_width * WIDTH
    report["size"] = [WIDTH, HEIGHT]


def scenario_save(arguments, report: dict) -> None:
    scene = build_scene()
    path = Path(arguments.out) / "shot.blend"
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    report["blend"] = str(path)
    report["before"] = user_settings(scene)


SCENARIOS = {"render_error": scenario_render_error, "restyle": scenario_restyle, "cancel": scenario_cancel, "extract": scenario_extract, "propagate": scenario_propagate, "modal": scenario_modal, "unreachable": scenario_unreachable,
             "joints": scenario_joints, "save": scenario_save}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--report", required=True)
    parser.add_argument("--extension", default=None)
    parser.add_argument("--connection-file", default="")
    parser.add_argument("--out", default="")
    parser.add_argument("--op", default="restyle")
    arguments = parser.parse_args()
    report: dict = {}
    SCENARIOS[arguments.scenario](arguments, report)
    Path(arguments.report).write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
