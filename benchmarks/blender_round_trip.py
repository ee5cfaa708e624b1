"""The Blender add-on's shot round trip against plain rendering, measured in the same run.

    python benchmarks/blender_round_trip.py [--width 640 --height 360 --frames 3 --op restyle]

Starts a server, builds the test scene (tests/blender/scenario.py: the demo scene
plus a posed rig), then times (1) the baseline: Blender rendering the frames to
multilayer EXRs with the same passes, and (2) ``ShotRun``: render, read passes and
joints, stream through the op, write and publish the results, place a strip.
Prints seconds per stage and the round trip's ratio to the baseline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "blender"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--op", default="restyle")
    parser.add_argument("--extra-params", default='{"cache": false}',
                        help="op params as JSON (default: the restyle result cache off, so the op really runs)")
    arguments = parser.parse_args()

    import bpy

    import scenario
    from framebridge import blender_addon
    from framebridge.blender_addon.shot_run import ShotRun
    from framebridge.protocol.session import ConnectionSettings
    from framebridge.server.launch import spawn_server

    folder = Path(tempfile.mkdtemp(prefix="framebridge-bench-"))
    scenario.WIDTH, scenario.HEIGHT = arguments.width, arguments.height
    scene = scenario.build_scene()
    scene.frame_end = arguments.frames
    blender_addon.register()
    scenario.configure(scene, arguments.op, str(folder / "results"))
    scene.framebridge.extra_params = arguments.extra_params

    layer = scene.view_layers[0]
    for flag in ("use_pass_z", "use_pass_normal", "use_pass_vector"):
        setattr(layer, flag, True)
    scene.render.image_settings.media_type = "MULTI_LAYER_IMAGE"
    scene.render.image_settings.color_depth = "32"
    scene.render.use_motion_blur = False
    started = time.perf_counter()
    for number in range(1, arguments.frames + 1):
        scene.frame_set(number)
        scene.render.filepath = str(folder / "baseline" / f"frame_{number:04d}.exr")
        bpy.ops.render.render(write_still=True)
    baseline = time.perf_counter() - started

    with spawn_server(folder / "server") as server:
        started = time.perf_counter()
        run = ShotRun(scene, bpy.context.view_layer, ConnectionSettings(connection_file=str(server.connection_file)))
        try:
            run.run_to_end()
        finally:
            run.close()
        round_trip = time.perf_counter() - started
    stages = run.time_report()
    print(f"{arguments.frames} frames {arguments.width}x{arguments.height}, op {arguments.op} "
          f"(backend {run.backend or 'default'}), Cycles CPU {scene.cycles.samples} samples")
    print(f"baseline: render to multilayer EXR      {baseline:7.2f} s")
    print(f"round trip through FrameBridge          {round_trip:7.2f} s  ({round_trip / baseline:.2f}x the baseline)")
    for stage, seconds in stages.items():
        print(f"  {stage:<36} {seconds:7.2f} s  ({seconds / round_trip:5.1%})")
    print(f"  {'other (Blender, settings, staging)':<36} {round_trip - sum(stages.values()):7.2f} s")


if __name__ == "__main__":
    main()
