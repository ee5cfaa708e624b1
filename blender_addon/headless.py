"""Run a shot from the command line, for farms and scripts: the same capture, op and placement as the panel.

With the bpy module (``pip install bpy``)::

    python -m framebridge.blender_addon.headless scene.blend --frames 1-3 --out DIR [--connection-file F]

With a Blender binary and the extension installed (the scene opened by Blender)::

    blender -b scene.blend --python-expr "from framebridge.blender_addon import headless; headless.main(['--frames', '1-3', '--out', 'DIR'])"

The panel's settings saved in the .blend (prompt, strength keys, conditions...)
apply; the options here override the op, backend, placement and folder.
Progress goes to stdout, one line per step, then the time spent per stage.
Exit status 0 on success, 1 with a one-line error (and its fix) otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import bpy

from framebridge.protocol.errors import FrameBridgeError
from framebridge.protocol.frames import parse_frames
from framebridge.protocol.session import ConnectionSettings

from .placement import PLACEMENTS

__all__ = ["main"]


def _ensure_registered() -> None:
    """Register the add-on unless it (or the installed extension) already is."""
    if not hasattr(bpy.types.Scene, "framebridge"):
        from . import register

        register()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m framebridge.blender_addon.headless",
                                     description="Render a shot's frames through a FrameBridge op and write the results as EXRs.")
    parser.add_argument("blend", nargs="?", help="the .blend to open (omit inside `blender -b scene.blend`)")
    parser.add_argument("--frames", help="frames like 1-3,7 (default: the scene's frame range)")
    parser.add_argument("--out", help="output folder for frame_####.exr (default: the panel's folder)")
    parser.add_argument("--connection-file", default="", help="the server's connection file (default: the standard location)")
    parser.add_argument("--address", default="", help="override the address in the connection file")
    parser.add_argument("--op", help="server op (default: the panel's, normally restyle)")
    parser.add_argument("--backend", help="server backend (default: the panel's, normally cpu)")
    parser.add_argument("--placement", choices=PLACEMENTS, help="also place the results in the scene (default: the panel's)")
    parser.add_argument("--save", action="store_true", help="save the .blend after placing the results")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server to answer")
    return parser


def _open_blend(path: str) -> str | None:
    """Open the .blend, or say in one line why it cannot be opened."""
    blend = Path(path)
    if not blend.is_file():
        what = "is a folder" if blend.is_dir() else "does not exist"
        return f"{blend} {what} (fix: give the path of a .blend file, or run inside `blender -b scene.blend` without one)"
    try:
        bpy.ops.wm.open_mainfile(filepath=str(blend))
    except RuntimeError as error:
        reason = " ".join(str(error).split())
        return f"{blend} could not be opened as a .blend ({reason}) (fix: check that it is a Blender file saved by Blender 4.2 or newer)"
    return None


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    from .shot_run import ShotRun

    started = time.perf_counter()
    if arguments.blend:
        problem = _open_blend(arguments.blend)
        if problem:
            print(f"framebridge: error: {problem}", file=sys.stderr, flush=True)
            return 1
    _ensure_registered()
    scene = bpy.context.scene
    connection = ConnectionSettings(connection_file=arguments.connection_file, address=arguments.address,
                                    timeout=arguments.timeout)
    run = None
    try:
        run = ShotRun(scene, bpy.context.view_layer, connection, op=arguments.op, backend=arguments.backend,
                      frames=parse_frames(arguments.frames) if arguments.frames else None,
                      output_folder=arguments.out, placement=arguments.placement)
        print(f"framebridge: {run.server.summary()}", flush=True)
        run.run_to_end(report=lambda line: print(line, flush=True))
    except FrameBridgeError as error:
        if run is not None:
            run.cancel()
        print(f"framebridge: error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        if run is not None:
            run.close()
    if arguments.save:
        bpy.ops.wm.save_mainfile()
    total = time.perf_counter() - started
    stages = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in run.time_report().items())
    print(f"framebridge: {len(run.published)} frames written to {run.output} in {total:.2f} s ({stages})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
