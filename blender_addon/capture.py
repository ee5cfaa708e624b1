"""Render a frame range to multilayer EXRs with the passes the conditions need, then read them as buffers.

Works wherever ``bpy.ops.render.render(write_still=True)`` works, including
``blender -b`` and the ``bpy`` module: one render per frame into a temporary
folder, so nothing depends on the UI or on the user's output path. The user's
pass and output settings are taken as a :class:`~.passes.Snapshot` before the
first change and written back by :meth:`Capture.restore`, whatever happened.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import bpy
import numpy as np

from framebridge.protocol import passes as canonical
from framebridge.protocol.camera_metadata import camera_note
from framebridge.protocol.errors import InvalidParams, MediaError
from framebridge.protocol.exr import read_frame
from framebridge.protocol.sequence import frame_filename

from . import joints
from .passes import Snapshot, capture_settings

__all__ = ["Capture", "render_size", "camera_matrices", "frame_joints"]

# The buffers each condition (and temporal consistency) needs from the render, besides the beauty.
_CONDITION_BUFFERS = {
    "depth": (canonical.DEPTH,),
    "normal": (canonical.NORMAL,),
    "segmentation": (canonical.OBJECT_INDEX,),
    "pose": (),
    "canny": (),
}
_TEMPORAL_BUFFERS = (canonical.MOTION_BACKWARD, canonical.MOTION_FORWARD)


def render_size(scene: bpy.types.Scene) -> tuple[int, int]:
    """The output width and height in pixels, after the resolution percentage."""
    scale = scene.render.resolution_percentage / 100.0
    return int(scene.render.resolution_x * scale), int(scene.render.resolution_y * scale)


def camera_matrices(scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph) -> tuple[np.ndarray, np.ndarray]:
    """The active camera's view (camera-from-world) and projection (clip-from-camera) matrices at this frame."""
    camera = scene.camera.evaluated_get(depsgraph)
    width, height = render_size(scene)
    projection = camera.calc_matrix_camera(depsgraph, x=width, y=height,
                                           scale_x=scene.render.pixel_aspect_x, scale_y=scene.render.pixel_aspect_y)
    return np.array(camera.matrix_world.inverted()), np.array(projection)


def frame_joints(scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph, mapping_for: Callable[[bpy.types.Object], Any]) -> np.ndarray:
    """(people, 18, 3) COCO joints of every rendered armature that has mapped bones, at the current frame."""
    view, projection = camera_matrices(scene, depsgraph)
    width, height = render_size(scene)
    people = []
    for obj in scene.objects:
        if obj.type != "ARMATURE" or obj.hide_render:
            continue
        mapping = mapping_for(obj)
        if not mapping:
            continue
        evaluated = obj.evaluated_get(depsgraph)
        world = evaluated.matrix_world
        bone_ends = {bone.name: {"head": np.array(world @ bone.head), "tail": np.array(world @ bone.tail)}
                     for bone in evaluated.pose.bones}
        people.append(joints.armature_joints(bone_ends, mapping, view, projection, width, height))
    return np.array(people, dtype=np.float32).reshape(len(people), len(joints.COCO_JOINTS), 3)


class Capture:
    """One shot's frames rendered to a temporary folder, plus per-frame joints, camera and sampled values."""

    def __init__(self, scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer, frames: list[int],
                 conditions: list[str], temporal: bool, *, mapping_for: Callable[[bpy.types.Object], Any],
                 sample: Callable[[bpy.types.Scene], dict[str, Any]] = lambda scene: {}):
        if scene.camera is None:
            raise InvalidParams(f"scene {scene.name!r} has no active camera", fix="set Scene > Camera before rendering")
        self.scene = scene
        self.view_layer = view_layer
        self.frames = list(frames)
        self.conditions = list(conditions)
        self.temporal = temporal
        self.mapping_for = mapping_for
        self.sample = sample
        self.folder = Path(tempfile.mkdtemp(prefix="framebridge-capture-"))
        self.joints: dict[int, np.ndarray] = {}
        self.cameras: dict[int, np.ndarray] = {}
        self.samples: dict[str, dict[int, Any]] = {}
        self.captured: list[int] = []
        image_settings = scene.render.image_settings
        self._settings = capture_settings(conditions, temporal, has_media_type=hasattr(image_settings, "media_type"))
        self._settings["render.use_single_layer"] = True
        self._settings["render.use_file_extension"] = True
        self._settings["render.use_stamp_note"] = True  # the frame's camera goes into the EXR header as a note
        keys = [*self._settings, "render.filepath", "render.stamp_note_text"]
        self.snapshot = Snapshot.take(keys, self._read)
        self._frame_before = scene.frame_current
        self._applied = False

    @property
    def remaining(self) -> list[int]:
        return [number for number in self.frames if number not in self.captured]

    def apply(self) -> None:
        """Turn on the passes and the float multilayer EXR output the capture needs."""
        for key, value in self.snapshot.changes(self._settings).items():
            self._write(key, value)
        self._applied = True

    def capture(self, number: int) -> Path:
        """Render one frame to ``frame_####.exr`` in the capture folder; record joints, camera and samples."""
        if not self._applied:
            self.apply()
        scene = self.scene
        scene.frame_set(number)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        path = self.folder / frame_filename(number)
        scene.render.filepath = str(path)
        scene.render.stamp_note_text = camera_note(scene.camera.matrix_world)
        bpy.ops.render.render(write_still=True, scene=scene.name, layer=self.view_layer.name)
        if not path.exists():
            raise MediaError(f"Blender wrote no file for frame {number} at {path}",
                             fix="check that the scene renders (camera, engine) and that the temp folder is writable")
        self.joints[number] = frame_joints(scene, depsgraph, self.mapping_for)
        self.cameras[number] = np.array(scene.camera.matrix_world, dtype=np.float32)
        for name, value in self.sample(scene).items():
            self.samples.setdefault(name, {})[number] = value
        self.captured.append(number)
        return path

    def buffers(self, number: int) -> dict[str, np.ndarray]:
        """The frame's buffers to send: beauty, the passes the conditions need, joints and the camera matrix."""
        rendered = read_frame(self.folder / frame_filename(number))
        wanted = [canonical.BEAUTY]
        for condition in self.conditions:
            wanted.extend(_CONDITION_BUFFERS[condition])
        if self.temporal:
            wanted.extend(_TEMPORAL_BUFFERS)
        buffers = {name: rendered[name] for name in dict.fromkeys(wanted) if name in rendered}
        if "pose" in self.conditions and len(self.joints[number]):
            buffers[canonical.POSE_JOINTS] = self.joints[number]
        buffers[canonical.CAMERA_MATRIX] = self.cameras[number]
        return buffers

    def depths(self) -> Iterator[np.ndarray]:
        """Each captured frame's depth pass, read one frame at a time; none when no condition needs depth."""
        if "depth" not in self.conditions:
            return
        for number in self.captured:
            depth = read_frame(self.folder / frame_filename(number)).get(canonical.DEPTH)
            if depth is not None:
                yield depth

    def shot(self) -> dict[str, Any]:
        """Shot metadata for the server: fps, resolution, camera intrinsics and clipping."""
        scene = self.scene
        camera = scene.camera.data
        width, height = render_size(scene)
        return {
            "fps": scene.render.fps / scene.render.fps_base,
            "resolution": [width, height],
            "frame_range": [self.frames[0], self.frames[-1]],
            "lens_mm": camera.lens,
            "sensor_width_mm": camera.sensor_width,
            "near": camera.clip_start,
            "far": camera.clip_end,
            "source": "blender",
            "blender_version": bpy.app.version_string,
        }

    def restore(self) -> None:
        """Put the user's settings and frame back and delete the temporary renders."""
        for key, value in self.snapshot.restore_order():
            self._write(key, value)
        self.scene.frame_set(self._frame_before)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _target(self, root: str) -> Any:
        render = self.scene.render
        return {"view_layer": self.view_layer, "render": render, "image_settings": render.image_settings,
                "cycles": getattr(self.scene, "cycles", None)}[root]

    def _read(self, key: str) -> Any:
        root, attribute = key.split(".", 1)
        return getattr(self._target(root), attribute)

    def _write(self, key: str, value: Any) -> None:
        root, attribute = key.split(".", 1)
        target = self._target(root)
        if getattr(target, attribute) != value:
            setattr(target, attribute, value)
