"""One run of a shot, in small steps: capture every frame, stream them through an op, publish and place the results.

The modal operator calls :meth:`ShotRun.advance` from its timer (one render or
one poll per tick, so Esc is seen between steps); the blocking operator and the
headless command call :meth:`ShotRun.run_to_end`. Both end in :meth:`close`,
which restores the user's render settings whatever happened. Results are
staged and published only when every frame came back, so a cancelled or failed
run leaves no files behind.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import bpy

from framebridge.protocol.errors import FrameFailed, InvalidParams, JobCancelled
from framebridge.protocol.exr import write_exr
from framebridge.protocol.frames import frame_range, parse_extra_params
from framebridge.protocol.passes import CAMERA_MATRIX
from framebridge.protocol.sequence import StagedSequence
from framebridge.protocol.session import ConnectionSettings, connect

from . import comms, joints
from .capture import Capture, render_size
from .comms import Finished, Progressed
from .delivery import place
from .passes import CONDITIONS
from .placement import plan_placement
from .requests import ShotSettings, build_params, fit_to_op, prompt_schedule, shot_with_depth_range

__all__ = ["ShotRun", "conditions_of", "mapping_resolver"]


def conditions_of(settings: Any) -> dict[str, float]:
    """The conditions switched on in the panel, with their weights."""
    return {name: float(getattr(settings, f"{name}_weight")) for name in CONDITIONS if getattr(settings, f"use_{name}")}


def mapping_resolver(settings: Any) -> Callable[[bpy.types.Object], Any]:
    """For each armature, the bone mapping the panel chose (detected per armature with ``AUTO``)."""
    if settings.joint_mapping == "CUSTOM":
        if settings.joint_mapping_text is None:
            raise InvalidParams("the custom bone mapping needs a Text datablock", fix="choose one under Bone Mapping")
        custom = joints.parse_mapping(settings.joint_mapping_text.as_string())
        return lambda armature: custom
    if settings.joint_mapping != "AUTO":
        preset = joints.PRESETS[settings.joint_mapping]
        return lambda armature: preset

    def detect(armature: bpy.types.Object) -> Any:
        name = joints.detect_preset({bone.name for bone in armature.data.bones})
        return joints.PRESETS[name] if name else None

    return detect


def _sample(scene: bpy.types.Scene) -> dict[str, Any]:
    settings = scene.framebridge
    # Blender floats are single precision; six decimals keep 0.3 from travelling as 0.30000001192092896.
    return {"strength": round(settings.strength, 6), "seed": settings.seed, "temporal_strength": round(settings.temporal_strength, 6)}


class ShotRun:
    """Capture -> stream -> publish -> place, for the restyle op (or any op) and for condition extraction."""

    def __init__(self, scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer, connection: ConnectionSettings, *,
                 op: str | None = None, backend: str | None = None, frames: list[int] | None = None,
                 output_folder: str | None = None, placement: str | None = None,
                 passes_for: tuple[str, ...] | None = None,
                 job_buffers: Callable[[tuple[int, int]], dict[str, Any]] | None = None):
        """``passes_for`` names the conditions whose passes to capture (with motion) instead of the panel's;
        ``job_buffers`` makes the job-level buffers from the render size."""
        settings = scene.framebridge
        self.scene = scene
        self.settings = settings
        self.op = op or settings.op
        # The panel's backend belongs to the panel's op; another op runs on its own default unless told.
        self.backend = backend if backend is not None else (settings.backend if self.op == settings.op else "")
        self.placement_kind = placement or settings.placement
        self.frames = frames or frame_range(scene.frame_start, scene.frame_end, scene.frame_step)
        self.output = Path(bpy.path.abspath(output_folder or settings.output_folder))
        self.conditions = conditions_of(settings)
        self.extra_params = parse_extra_params(settings.extra_params)
        if self.placement_kind != "NONE":
            plan_placement(self.placement_kind, self.output, self.frames)  # refuses gaps before anything renders
        self.timings: dict[str, float] = {"connect": 0.0, "render": 0.0, "read": 0.0, "server": 0.0, "write": 0.0, "place": 0.0}
        self.stage = "connect"
        self.server_stage = ""
        self.placed: Any = None
        self.published: list[Path] = []
        self.finished: Finished | None = None
        self.keep_frame: int | None = None
        self.kept: dict[str, Any] = {}
        self.requested_params: dict[str, Any] = {}
        self.params: dict[str, Any] = {}
        self.shot: dict[str, Any] = {}
        self.dropped_params: list[str] = []
        self.runner: comms.JobRunner | None = None
        self.sequence: StagedSequence | None = None
        self.capture: Capture | None = None
        started = time.perf_counter()
        self.client = connect(connection)
        try:
            self.server = comms.check_server(self.client, required_op=self.op)
            self.job_buffers = job_buffers(render_size(scene)) if job_buffers else {}
            captured, temporal = (list(passes_for), True) if passes_for is not None else (list(self.conditions), settings.temporal)
            self.capture = Capture(scene, view_layer, self.frames, captured, temporal,
                                   mapping_for=mapping_resolver(settings), sample=_sample)
        except BaseException:
            self.client.close()
            raise
        self.timings["connect"] = time.perf_counter() - started
        self.stage = "capture"

    def time_report(self) -> dict[str, float]:
        """Seconds per stage; ``server`` is the wait for results, apart from reading inputs and writing results."""
        report = dict(self.timings)
        report["server"] = max(0.0, report["server"] - report["read"] - report["write"])
        return report

    @property
    def progress(self) -> float:
        """0..1: rendering is the first half, the server's results the second."""
        total = len(self.frames)
        rendered = len(self.capture.captured) if self.capture else 0
        stored = len(self.sequence.frames) if self.sequence else 0
        return (rendered + stored) / (2 * total)

    @property
    def status(self) -> str:
        rendered = len(self.capture.captured) if self.capture else 0
        stored = len(self.sequence.frames) if self.sequence else 0
        if self.stage == "capture":
            return f"FrameBridge: rendering frame {min(rendered + 1, len(self.frames))}/{len(self.frames)}"
        stage = f" ({self.server_stage})" if self.server_stage else ""
        return f"FrameBridge: {self.op} {stored}/{len(self.frames)} frames back{stage}"

    def advance(self, budget: float = 0.05) -> bool:
        """Do one step (render one frame, or poll the server for ``budget`` seconds); True once finished."""
        if self.stage == "capture":
            remaining = self.capture.remaining
            if remaining:
                started = time.perf_counter()
                self.capture.capture(remaining[0])
                self.timings["render"] += time.perf_counter() - started
            else:
                self._submit()
        elif self.stage == "stream":
            started = time.perf_counter()
            for message in self.runner.poll(budget):
                if isinstance(message, Progressed):
                    self.server_stage = message.stage
                elif isinstance(message, Finished):
                    self._finish(message)
            self.timings["server"] += time.perf_counter() - started
        return self.stage == "done"

    def run_to_end(self, report: Callable[[str], None] = lambda text: None) -> None:
        """Block until done (background mode, scripts, the headless command), reporting each step."""
        last = None
        while not self.advance(budget=0.25):
            if self.status != last:
                last = self.status
                report(f"{last} ({self.progress:.0%})")
            if self.stage == "stream":
                time.sleep(0.01)

    def _submit(self) -> None:
        self.requested_params = build_params(self._shot_settings())
        self.params, self.dropped_params = fit_to_op(self.requested_params, self.server.ops[self.op])
        self.shot = shot_with_depth_range(self.capture.shot(), self.capture.depths())
        self.sequence = StagedSequence(self.output, self._write)
        self.runner = comms.JobRunner(self.client, self.op, self.frames, self._read, self._store,
                                      params=self.params, shot=self.shot, backend=self.backend or None,
                                      job_buffers=self.job_buffers)
        self.stage = "stream"

    def _shot_settings(self) -> ShotSettings:
        settings = self.settings
        samples = self.capture.samples
        keys = {key.frame: key.prompt for key in settings.prompt_keys}
        return ShotSettings(
            op=self.op,
            backend=self.backend,
            prompt=prompt_schedule(self.frames, settings.prompt, keys),
            negative_prompt=settings.negative_prompt,
            strength=samples.get("strength", settings.strength),
            seed=samples.get("seed", settings.seed),
            conditions=self.conditions,
            temporal=settings.temporal,
            temporal_strength=samples.get("temporal_strength", settings.temporal_strength),
            extra=self.extra_params,
        )

    def _read(self, number: int) -> dict:
        started = time.perf_counter()
        buffers = self.capture.buffers(number)
        self.timings["read"] += time.perf_counter() - started
        return buffers

    def _store(self, number: int, buffers: dict) -> None:
        """Stage a result frame (with its camera, for the header); keep the buffers of ``keep_frame`` in memory (for previews)."""
        camera = self.capture.cameras.get(number) if self.capture else None
        self.sequence.add(number, {**buffers, CAMERA_MATRIX: camera} if camera is not None else buffers)
        if number == self.keep_frame:
            self.kept = {name: array.copy() for name, array in buffers.items()}

    def _write(self, path: Path, buffers: dict) -> None:
        """Write the frame's images at the render size, and its camera in the header; joints are not images."""
        started = time.perf_counter()
        width, height = render_size(self.scene)
        images = {name: array for name, array in buffers.items() if array.ndim in (2, 3) and array.shape[:2] == (height, width)}
        if CAMERA_MATRIX in buffers:
            images[CAMERA_MATRIX] = buffers[CAMERA_MATRIX]
        write_exr(path, images)
        self.timings["write"] += time.perf_counter() - started

    def _finish(self, finished: Finished) -> None:
        self.finished = finished
        if not finished.succeeded:
            self.sequence.discard()
            self.stage = "done"
            if finished.error is not None:
                raise finished.error
            failed = ", ".join(f"{number}: {error}" for number, error in sorted(finished.failed.items()))
            raise FrameFailed(f"{self.op} failed on frames {failed}; no results were written")
        self.published = self.sequence.publish()
        self.stage = "done"
        if self.placement_kind != "NONE":
            started = time.perf_counter()
            name = f"FrameBridge {self.op}"
            self.placed = place(self.scene, plan_placement(self.placement_kind, self.output, self.sequence.frames, name))
            self.timings["place"] = time.perf_counter() - started

    def cancel(self) -> None:
        """Stop the server job and remove every file this run wrote."""
        if self.runner is not None:
            self.runner.cancel()
        if self.sequence is not None:
            self.sequence.discard()
        self.finished = Finished("cancelled", error=JobCancelled("cancelled by the user"))
        self.stage = "done"

    def close(self) -> None:
        """Restore the user's settings and frame, drop the temporary renders, close the connection."""
        if self.capture is not None:
            self.capture.restore()
        if self.client is not None:
            self.client.close()
            self.client = None
