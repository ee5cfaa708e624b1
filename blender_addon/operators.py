"""Operators: test the connection, render a shot through an op, extract conditions, propagate keyframes, edit keys.

The shot operators run modal from the UI (a timer drives :class:`~.shot_run.ShotRun`
one step at a time, progress in the status bar and the window manager's
progress, Esc cancels) and blocking from scripts and ``blender -b`` (execute).
Errors, FrameBridge's or any other (a failed render), are reported with
:meth:`Operator.report`, never as tracebacks, and the user's settings always come back.
"""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty, StringProperty

from framebridge.protocol.errors import FrameBridgeError, InvalidParams
from framebridge.protocol.frames import frame_range, parse_frames
from framebridge.protocol.session import connect

from . import comms
from .delivery import preview_image
from .keyframes import Keyframe, keyframe_buffers
from .preferences import connection_settings
from .shot_run import ShotRun

__all__ = [
    "FRAMEBRIDGE_OT_test_connection",
    "FRAMEBRIDGE_OT_render_restyle",
    "FRAMEBRIDGE_OT_extract_conditions",
    "FRAMEBRIDGE_OT_prompt_key_add",
    "FRAMEBRIDGE_OT_propagate",
    "FRAMEBRIDGE_OT_keyframe_add",
    "FRAMEBRIDGE_OT_key_remove",
    "register",
    "unregister",
]

TIMER_SECONDS = 0.05
POLL_BUDGET_SECONDS = 0.03


class FRAMEBRIDGE_OT_test_connection(bpy.types.Operator):
    """Ask the FrameBridge server for its version and ops"""

    bl_idname = "framebridge.test_connection"
    bl_label = "Test Connection"

    connection_file: StringProperty(name="Connection File", default="", options={"SKIP_SAVE"},
                                    description="Use this connection file instead of the preferences'")

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            client = connect(connection_settings(context, self.connection_file))
            try:
                info = comms.check_server(client)
            finally:
                client.close()
        except FrameBridgeError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, info.summary())
        return {"FINISHED"}


class _ShotOperator:
    """Shared by the shot operators: modal from the UI, blocking from scripts."""

    connection_file: StringProperty(name="Connection File", default="", options={"SKIP_SAVE"},
                                    description="Use this connection file instead of the preferences'")
    frames: StringProperty(name="Frames", default="", options={"SKIP_SAVE"},
                           description="Frames to run, e.g. '1-3,7'; empty for the scene's frame range")
    output_folder: StringProperty(name="Output Folder", default="", subtype="DIR_PATH", options={"SKIP_SAVE"},
                                  description="Write results here instead of the panel's folder")

    op_name: str = ""
    placement: str | None = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and context.scene.camera is not None

    def _start(self, context: bpy.types.Context) -> ShotRun:
        return ShotRun(
            context.scene, context.view_layer, connection_settings(context, self.connection_file),
            op=self.op_name or None,
            frames=parse_frames(self.frames) if self.frames else None,
            output_folder=self._output_folder(context),
            placement=self.placement,
        )

    def _output_folder(self, context: bpy.types.Context) -> str | None:
        return self.output_folder or None

    def _done(self, context: bpy.types.Context, run: ShotRun) -> None:
        where = f", placed as {run.placement_kind.lower().replace('_', ' ')}" if run.placed is not None else ""
        self.report({"INFO"}, f"FrameBridge {run.op} ({run.runner.job.backend}): {len(run.published)} frames in {run.output}{where}")

    def execute(self, context: bpy.types.Context) -> set[str]:
        run = None
        try:
            run = self._start(context)
            run.run_to_end(report=print)
            self._done(context, run)
        except Exception as error:
            if run is not None:
                run.cancel()
            self.report({"ERROR"}, _failure_message(self.op_name or context.scene.framebridge.op, error))
            return {"CANCELLED"}
        finally:
            if run is not None:
                run.close()
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        try:
            self._run = self._start(context)
        except FrameBridgeError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(TIMER_SECONDS, window=context.window)
        window_manager.progress_begin(0, 100)
        window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        run = self._run
        if event.type == "ESC":
            run.cancel()
            self._end(context)
            self.report({"WARNING"}, f"FrameBridge {run.op} cancelled; no result files were written")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            finished = run.advance(POLL_BUDGET_SECONDS)
        except Exception as error:  # a render error too: the user's settings, timer and temp renders must not leak
            try:
                run.cancel()
            finally:
                self._end(context)
            self.report({"ERROR"}, _failure_message(run.op, error))
            return {"CANCELLED"}
        context.window_manager.progress_update(int(run.progress * 100))
        if context.workspace is not None:
            context.workspace.status_text_set(run.status)
        if not finished:
            return {"RUNNING_MODAL"}
        self._end(context)
        self._done(context, run)
        return {"FINISHED"}

    def _end(self, context: bpy.types.Context) -> None:
        """Remove the timer, progress and status text, and close the run (restoring the user's settings)."""
        window_manager = context.window_manager
        try:
            window_manager.event_timer_remove(self._timer)
            window_manager.progress_end()
            if context.workspace is not None:
                context.workspace.status_text_set(None)
        finally:
            self._run.close()


def _failure_message(op: str, error: Exception) -> str:
    """One line for Operator.report: a FrameBridge error as it reads, anything else (a render error) with its type."""
    if isinstance(error, FrameBridgeError):
        return str(error)
    return f"FrameBridge {op} failed: {type(error).__name__}: {error}"


class FRAMEBRIDGE_OT_render_restyle(_ShotOperator, bpy.types.Operator):
    """Render the frame range with the passes the conditions need, restyle it on the FrameBridge server and place the result"""

    bl_idname = "framebridge.render_restyle"
    bl_label = "Render Restyle"


class FRAMEBRIDGE_OT_extract_conditions(_ShotOperator, bpy.types.Operator):
    """Render the frame range and have the server extract the ControlNet conditions; preview the current frame's as images"""

    bl_idname = "framebridge.extract_conditions"
    bl_label = "Extract Conditions"

    op_name = "extract"
    placement = "NONE"

    def _output_folder(self, context: bpy.types.Context) -> str:
        return self.output_folder or bpy.path.abspath(context.scene.framebridge.output_folder).rstrip("/\\") + "/conditions"

    def _start(self, context: bpy.types.Context) -> ShotRun:
        run = super()._start(context)
        run.keep_frame = context.scene.frame_current if context.scene.frame_current in run.frames else run.frames[0]
        return run

    def _done(self, context: bpy.types.Context, run: ShotRun) -> None:
        images = [preview_image(f"FrameBridge {name}", pixels).name for name, pixels in run.kept.items()]
        self.report({"INFO"}, f"FrameBridge extract: {len(run.published)} frames in {run.output}; "
                              f"frame {run.keep_frame} as images {', '.join(images)}")


class FRAMEBRIDGE_OT_propagate(_ShotOperator, bpy.types.Operator):
    """Render the frame range with motion, depth and object passes and carry the keyframe images through it; place the result"""

    bl_idname = "framebridge.propagate"
    bl_label = "Propagate Keyframes"

    op_name = "propagate"

    def _start(self, context: bpy.types.Context) -> ShotRun:
        settings = context.scene.framebridge
        frames = parse_frames(self.frames) if self.frames else None
        return ShotRun(context.scene, context.view_layer, connection_settings(context, self.connection_file),
                       op=self.op_name, backend="", frames=frames, output_folder=self._output_folder(context),
                       passes_for=("depth", "segmentation"),
                       job_buffers=lambda size: _keyframe_buffers(settings, frames or _scene_frames(context.scene), size))

    def _output_folder(self, context: bpy.types.Context) -> str:
        return self.output_folder or bpy.path.abspath(context.scene.framebridge.output_folder).rstrip("/\\") + "/propagated"


def _scene_frames(scene: bpy.types.Scene) -> list[int]:
    return frame_range(scene.frame_start, scene.frame_end, scene.frame_step)


def _keyframe_buffers(settings, frames: list[int], size: tuple[int, int]) -> dict:
    """The panel's keyframe images as job-level buffers (pixels read here, on the main thread)."""
    chosen = []
    for key in settings.keyframes:
        if key.image is None:
            raise InvalidParams(f"the keyframe for frame {key.frame} has no image", fix="pick its image, or remove it")
        image = key.image
        chosen.append(Keyframe(key.frame, image.name, np.array(image.pixels[:], dtype=np.float32), tuple(image.size),
                               image.channels, image.is_float, image.colorspace_settings.name))
    return keyframe_buffers(chosen, frames, size)


# The editable key lists of the scene's settings: collection -> its active-index property.
KEY_LISTS = {"keyframes": "keyframe_index", "prompt_keys": "prompt_key_index"}


def _select_last(settings, collection: str) -> None:
    setattr(settings, KEY_LISTS[collection], len(getattr(settings, collection)) - 1)


class FRAMEBRIDGE_OT_keyframe_add(bpy.types.Operator):
    """Add a keyframe at the current frame, with the image open in an Image Editor if there is one"""

    bl_idname = "framebridge.keyframe_add"
    bl_label = "Add Keyframe"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.framebridge
        key = settings.keyframes.add()
        key.frame = context.scene.frame_current
        editors = [area.spaces.active for area in (context.screen.areas if context.screen else []) if area.type == "IMAGE_EDITOR"]
        key.image = next((editor.image for editor in editors if editor.image is not None), None)
        _select_last(settings, "keyframes")
        return {"FINISHED"}


class FRAMEBRIDGE_OT_prompt_key_add(bpy.types.Operator):
    """Add a prompt key at the current frame, holding the current prompt"""

    bl_idname = "framebridge.prompt_key_add"
    bl_label = "Add Prompt Key"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.framebridge
        key = settings.prompt_keys.add()
        key.frame = context.scene.frame_current
        key.prompt = settings.prompt
        _select_last(settings, "prompt_keys")
        return {"FINISHED"}


class FRAMEBRIDGE_OT_key_remove(bpy.types.Operator):
    """Remove the selected key from the list"""

    bl_idname = "framebridge.key_remove"
    bl_label = "Remove Key"
    bl_options = {"REGISTER", "UNDO"}

    collection: EnumProperty(items=[("keyframes", "Keyframes", ""), ("prompt_keys", "Prompt Keys", "")])

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return len(context.scene.framebridge.keyframes) + len(context.scene.framebridge.prompt_keys) > 0

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings, index = context.scene.framebridge, KEY_LISTS[self.collection]
        keys = getattr(settings, self.collection)
        if len(keys):
            keys.remove(getattr(settings, index))
            setattr(settings, index, max(0, min(getattr(settings, index), len(keys) - 1)))
        return {"FINISHED"}


classes = (
    FRAMEBRIDGE_OT_test_connection,
    FRAMEBRIDGE_OT_render_restyle,
    FRAMEBRIDGE_OT_extract_conditions,
    FRAMEBRIDGE_OT_prompt_key_add,
    FRAMEBRIDGE_OT_propagate,
    FRAMEBRIDGE_OT_keyframe_add,
    FRAMEBRIDGE_OT_key_remove,
)
register, unregister = bpy.utils.register_classes_factory(classes)
