"""Run in its own process with the bpy module: a plate and a driver image strip, the expression operator, a report.

    python tests/blender/expression_scenario.py --plate DIR --driver DIR --connection-file F --out DIR --report R.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import bpy

import framebridge.blender_addon as addon


def add_strip(strips, name: str, folder: Path, channel: int, start: int):
    files = sorted(folder.glob("*.png"))
    strip = strips.new_image(name=name, filepath=str(files[0]), channel=channel, frame_start=start)
    for path in files[1:]:
        strip.elements.append(path.name)
    return strip


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--plate", "--driver", "--connection-file", "--out", "--report"):
        parser.add_argument(name, required=True)
    arguments = parser.parse_args()
    addon.register()
    scene = bpy.context.scene
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    plate = add_strip(strips, "plate", Path(arguments.plate), 1, 1)
    add_strip(strips, "driver", Path(arguments.driver), 2, 11)
    editor.active_strip = plate
    outcome = bpy.ops.framebridge.expression_strip(driver="driver", driving_offset=10, regions={"LIPS", "POSE"},
                                                   connection_file=arguments.connection_file,
                                                   output_folder=arguments.out)
    result = strips.get("plate expression")
    try:  # the driver strip starts at frame 11: without the offset, no plate frame has a driver frame
        bpy.ops.framebridge.expression_strip(driver="driver", driving_offset=0,
                                             connection_file=arguments.connection_file, output_folder=arguments.out)
        bad = "finished"
    except RuntimeError as error:  # in background mode an operator's ERROR report is raised
        bad = str(error)
    report = {"outcome": sorted(outcome), "bad": bad,
              "strip": None if result is None else {"channel": result.channel, "start": result.frame_start,
                                                    "elements": [element.filename for element in result.elements],
                                                    "directory": bpy.path.abspath(result.directory)}}
    Path(arguments.report).write_text(json.dumps(report))


if __name__ == "__main__":
    main()
