"""`framebridge demo`: a real Blender shot, restyled through a local server, back as EXRs and a contact sheet.

Stages: render (real Blender via the `bpy` module, Cycles on the CPU, every pass
the ops use), serve (a `framebridge serve` child process on loopback), extract
(ControlNet conditions from the passes), restyle (the CPU default backend with
motion-vector temporal consistency), propagate (the first and last restyled frames
carried through the shot as keyframes), expression (scikit-image's astronaut as a still
source, driven by a clip made from her by a known mouth-opening warp), write (atomic
EXR results) and the contact sheet (rows: render, depth, normal, segmentation,
restyled, propagated, expression, lip-sync); then lipsync (a line spoken by espeak-ng,
its Rhubarb JSON cues from the server, the cue track drawn under the waveform, and the
astronaut as a still plate lip-synced to it on the CPU default: the lip-sync row).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from framebridge.protocol import exr, passes
from framebridge.protocol.passes import shot_depth_range
from framebridge.protocol.errors import FrameBridgeError, InvalidParams, MediaError
from framebridge.protocol.files import atomic_path

from .colour import linear_to_display
from .launch import spawn_server

__all__ = ["DemoSettings", "DemoReport", "run_demo"]

ROWS = (("render", "beauty"), ("depth", "control_depth"), ("normal", "control_normal"),
        ("segmentation", "control_segmentation"), ("restyled", "beauty"), ("propagated", "beauty"),
        ("expression", "beauty"), ("lip-sync", "beauty"))
LINEAR_ROWS = ("render", "restyled", "propagated", "expression", "lip-sync")


@dataclass(frozen=True)
class DemoSettings:
    out_dir: Path
    frames: int = 6
    width: int = 320
    height: int = 180
    samples: int = 16
    prompt: str = "cartoon, bold ink lines"
    strength: float = 0.7
    seed: int = 7
    temporal_strength: float = 0.8

    def __post_init__(self) -> None:
        """Refuse counts and sizes below 1 before anything renders."""
        for name in ("frames", "width", "height", "samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParams(f"demo --{name} must be a whole number of at least 1, got {value!r}",
                                    details={"param": name, "min": 1})


@dataclass
class DemoReport:
    stages: dict[str, float] = field(default_factory=dict)
    rendered: list[Path] = field(default_factory=list)
    restyled: list[Path] = field(default_factory=list)
    propagated: list[Path] = field(default_factory=list)
    expressed: list[Path] = field(default_factory=list)
    lip_synced: list[Path] = field(default_factory=list)
    contact_sheet: Path | None = None
    failed: dict[int, FrameBridgeError] = field(default_factory=dict)
    lipsync: Any = None


@contextmanager
def _stage(report: DemoReport, name: str) -> Iterator[None]:
    start = time.monotonic()
    print(f"demo: {name}...", flush=True)
    yield
    report.stages[name] = time.monotonic() - start
    print(f"demo: {name} took {report.stages[name]:.1f} s", flush=True)


def run_demo(settings: DemoSettings) -> DemoReport:
    out = settings.out_dir.resolve()
    report = DemoReport()
    render_dir, restyled_dir, expression_dir = out / "render", out / "restyled", out / "expression"
    for folder in (render_dir, restyled_dir, expression_dir):  # a previous run's frames would be miscounted as this run's
        shutil.rmtree(folder, ignore_errors=True)
    with _stage(report, "render"):
        subprocess.run([sys.executable, "-m", "framebridge.blender_addon.demo_scene", "--out", str(render_dir),
                        "--frames", str(settings.frames), "--width", str(settings.width), "--height", str(settings.height),
                        "--samples", str(settings.samples)], check=True, stdout=subprocess.DEVNULL)
        report.rendered = sorted(render_dir.glob("frame_*.exr"))
    numbers = list(range(1, settings.frames + 1))

    def source(number: int) -> dict[str, np.ndarray]:
        """A rendered frame's passes, with its camera_matrix from the EXR header."""
        return exr.read_frame(render_dir / f"frame_{number:04d}.exr")

    # Every frame is on disk, so the depth condition gets one range for the whole shot.
    depth_range = shot_depth_range(source(number)[passes.DEPTH] for number in numbers)
    shot = {"fps": 24, **({"depth_range": depth_range} if depth_range else {})}
    with _stage(report, "serve"):
        server = spawn_server(out / "server")
    try:
        with server.client() as client:
            with _stage(report, "extract"):
                conditions = client.submit("extract", numbers, source, shot=shot,
                                           params={"conditions": ["depth", "normal", "segmentation"]}).wait()
            with _stage(report, "restyle"):
                params = {"prompt": settings.prompt, "strength": settings.strength, "seed": settings.seed,
                          "temporal": True, "temporal_strength": settings.temporal_strength}
                job = client.submit("restyle", numbers, source, params=params, shot=shot, keep_results=False)
                restyled: dict[int, np.ndarray] = {}
                for event in job:
                    if type(event).__name__ == "ResultEvent":
                        restyled[event.frame] = np.array(event.buffers[passes.BEAUTY])
                        report.restyled.append(exr.write_exr(restyled_dir / f"frame_{event.frame:04d}.exr",
                                                             {passes.BEAUTY: restyled[event.frame]}))
                report.failed.update(job.failed)
            with _stage(report, "propagate"):
                propagated = _propagate(client, numbers, source, restyled, out / "propagated", report)
            with _stage(report, "expression"):
                expressed = _expression_stage(client, numbers, expression_dir, report)
            with _stage(report, "lipsync"):
                from .lipsync.showcase import speak_and_sync

                report.lipsync = speak_and_sync(client, out / "lipsync")
            with _stage(report, "lipsync plate"):
                lip_synced = _lipsync_plate_stage(client, numbers, report.lipsync.wav, out / "lipsync" / "plate", report)
    finally:
        server.stop()
    with _stage(report, "contact sheet"):
        rows = {"render": {n: source(n)[passes.BEAUTY] for n in numbers}, "restyled": restyled, "propagated": propagated,
                "expression": expressed, "lip-sync": lip_synced}
        for label, name in ROWS[1:4]:
            rows[label] = {n: buffers[name] for n, buffers in conditions.results.items()}
        report.contact_sheet = write_contact_sheet(out / "contact_sheet.png", numbers, rows)
    return report


def _propagate(client, numbers: list[int], source, restyled: dict[int, np.ndarray], folder: Path,
               report: DemoReport) -> dict[int, np.ndarray]:
    """The restyled first and last frames carried through the shot by `propagate`, written to ``folder``.

    The keyframes are also written to ``keyframes/`` beside it, for `framebridge run propagate --keyframes`.
    """
    key_folder = folder.parent / "keyframes"
    for stale in (folder, key_folder):
        shutil.rmtree(stale, ignore_errors=True)
    ends = sorted({numbers[0], numbers[-1]} & set(restyled))
    if not ends:
        return {}
    keyframes = {f"keyframe_{n}": np.ascontiguousarray(restyled[n][..., :3]) for n in ends}
    for n in ends:
        exr.write_exr(key_folder / f"frame_{n:04d}.exr", {passes.BEAUTY: restyled[n]})
    outcome = client.submit("propagate", numbers, source, job_buffers=keyframes, keep_results=True).wait()
    report.failed.update(outcome.failed)
    for number, buffers in sorted(outcome.results.items()):
        report.propagated.append(exr.write_exr(folder / f"frame_{number:04d}.exr", dict(buffers)))
    return {number: buffers[passes.BEAUTY] for number, buffers in outcome.results.items()}


def _expression_stage(client: Any, numbers: list[int], folder: Path, report: DemoReport) -> dict[int, np.ndarray]:
    """The astronaut animated by a copy of herself opening her mouth; returns close-ups of her face per frame.

    The portrait and the driving clip are also written as ``portrait.png`` and ``driver/frame_####.png`` in
    ``folder``, for `framebridge run expression`.
    """
    import cv2
    from skimage.data import astronaut

    from .colour import display_to_linear
    from .expression.synthetic import mouth_clip

    face = np.ascontiguousarray(astronaut())
    clip, _ = mouth_clip(face, len(numbers), opening=10.0, cycles=1.0)
    (folder / "driver").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "portrait.png"), face[..., ::-1])
    for number, image in zip(numbers, clip):
        cv2.imwrite(str(folder / "driver" / f"frame_{number:04d}.png"), np.ascontiguousarray(image[..., ::-1]))
    driving = {number: display_to_linear(image.astype(np.float32) / 255.0) for number, image in zip(numbers, clip)}
    job = client.submit("expression", numbers, lambda number: {"driving": driving[number]}, params={"regions": "all"},
                        job_buffers={"source": display_to_linear(face.astype(np.float32) / 255.0)}, keep_results=False)
    close_ups: dict[int, np.ndarray] = {}
    for event in job:
        if type(event).__name__ == "ResultEvent":
            report.expressed.append(exr.write_exr(folder / f"frame_{event.frame:04d}.exr", dict(event.buffers)))
            x0, y0, x1, y1 = event.meta.get("box") or (0, 0, face.shape[1], face.shape[0])
            half, cx, cy = 0.9 * (x1 - x0), (x0 + x1) / 2, (y0 + y1) / 2
            top, left = int(max(0, cy - half)), int(max(0, cx - half))
            close_ups[event.frame] = np.array(event.buffers[passes.BEAUTY][top:int(cy + half), left:int(cx + half)])
    report.failed.update(job.failed)
    return close_ups


def _lipsync_plate_stage(client: Any, numbers: list[int], wav: Path, folder: Path, report: DemoReport) -> dict[int, np.ndarray]:
    """The astronaut as a still plate lip-synced to the demo's line (CPU default) at frames spread over it;
    returns close-ups of her mouth, one per contact-sheet column."""
    import soundfile
    from skimage.data import astronaut

    from .colour import display_to_linear
    from .lipsync.audio import FrameClock

    samples, sample_rate = soundfile.read(str(wav), dtype="float32")
    clock = FrameClock(24.0, 1001)
    spoken = clock.frames_for(len(samples) / sample_rate)
    picked = [spoken[round(index)] for index in np.linspace(len(spoken) * 0.1, len(spoken) * 0.9, len(numbers))]
    column = dict(zip(picked, numbers))
    plate = display_to_linear(np.ascontiguousarray(astronaut()).astype(np.float32) / 255.0)
    job = client.submit("lipsync", picked, lambda number: {passes.BEAUTY: plate}, keep_results=False,
                        params={"mode": "plate", "sample_rate": int(sample_rate), "fps": 24.0, "start_frame": 1001},
                        job_buffers={"audio": samples})
    close_ups: dict[int, np.ndarray] = {}
    for event in job:
        if type(event).__name__ == "ResultEvent":
            report.lip_synced.append(exr.write_exr(folder / f"frame_{event.frame:04d}.exr", dict(event.buffers)))
            close_ups[column[event.frame]] = np.array(event.buffers[passes.BEAUTY][80:230, 150:300])
    report.failed.update(job.failed)
    return close_ups


def _to_display8(image: np.ndarray, linear: bool) -> np.ndarray:
    """Any result buffer as 8-bit RGB for looking at: linear beauty is sRGB-encoded, conditions as they are."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    if image.dtype == np.uint8:
        return image
    values = image.astype(np.float32)
    if linear:
        values = linear_to_display(values)
    return np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to fit a width x height cell, keeping its aspect, centred on the sheet's grey."""
    import cv2

    scale = min(width / image.shape[1], height / image.shape[0])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    cell = np.full((height, width, 3), 24, np.uint8)
    x, y = (width - size[0]) // 2, (height - size[1]) // 2
    cell[y:y + size[1], x:x + size[0]] = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cell


def write_contact_sheet(path: Path, numbers: list[int], rows: dict[str, dict[int, Any]], cell_width: int = 240,
                        order: tuple[str, ...] = tuple(label for label, _ in ROWS), linear: tuple[str, ...] = LINEAR_ROWS) -> Path:
    """A grid of frames (columns) by stage (rows, in ``order``), labelled, written atomically as PNG.

    Rows named in ``linear`` hold scene-linear colour; the first row's frames set the cell's aspect.
    """
    import cv2

    first = next(iter(rows[order[0]].values()))
    cell_height = max(1, round(cell_width * first.shape[0] / first.shape[1]))
    margin, header = 130, 28
    sheet = np.full((header + len(order) * (cell_height + 6), margin + len(numbers) * (cell_width + 6), 3), 24, np.uint8)
    for column, number in enumerate(numbers):
        x = margin + column * (cell_width + 6)
        cv2.putText(sheet, f"frame {number}", (x + 4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (230, 230, 230), 1, cv2.LINE_AA)
        for row, label in enumerate(order):
            y = header + row * (cell_height + 6)
            if column == 0:
                cv2.putText(sheet, label, (8, y + cell_height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (230, 230, 230), 1,
                            cv2.LINE_AA)
            image = rows.get(label, {}).get(number)
            if image is None:
                cv2.putText(sheet, "failed", (x + 8, y + cell_height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (80, 80, 255), 1)
                continue
            cell = _fit(_to_display8(image, label in linear), cell_width, cell_height)
            sheet[y:y + cell_height, x:x + cell_width] = cell[..., ::-1]
    with atomic_path(path) as temporary:
        if not cv2.imwrite(str(temporary), sheet):
            raise MediaError(f"could not write {path}")
    return path


def demo_command(args: Any) -> int:
    settings = DemoSettings(out_dir=Path(args.out), frames=args.frames, width=args.width, height=args.height,
                            samples=args.samples, prompt=args.prompt, seed=args.seed)
    report = run_demo(settings)
    print(f"demo: rendered {len(report.rendered)} frames to {settings.out_dir / 'render'}")
    print(f"demo: restyled {len(report.restyled)} frames to {settings.out_dir / 'restyled'}")
    print(f"demo: propagated the first and last restyled frames through {len(report.propagated)} frames to "
          f"{settings.out_dir / 'propagated'}")
    print(f"demo: expression on {len(report.expressed)} frames to {settings.out_dir / 'expression'}")
    if report.lip_synced:
        print(f"demo: lip-synced plate on {len(report.lip_synced)} frames to {report.lip_synced[0].parent}")
    for number, error in sorted(report.failed.items()):
        print(f"demo: frame {number} failed [{error.code}]: {error}")
    print(f"demo: contact sheet {report.contact_sheet}")
    if report.lipsync is not None:
        print(f"demo: lipsync {report.lipsync.cues} cues ({report.lipsync.method}) over {report.lipsync.frames} frames -> "
              f"{report.lipsync.cue_file}, picture {report.lipsync.picture}")
    print("demo: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.stages.items()))
    incomplete = any(len(paths) != settings.frames for paths in (report.restyled, report.expressed, report.lip_synced))
    return 1 if report.failed or incomplete else 0
