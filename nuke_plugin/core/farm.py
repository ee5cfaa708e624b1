"""The ``nuke -t`` farm wrapper's command line, as a value.

    nuke -t framebridge_send.py SCRIPT.nk NODE --frames=1001-1100 [--output=FOLDER]
         [--set=prompt=oil paint ...] [--save-as=SCRIPT_v002.nk]

Nuke reads a trailing numeric argument of ``nuke -t`` as a frame range for itself,
so the range travels as one ``--frames=`` word and the command must not end with a
bare number.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any

from framebridge.protocol.errors import InvalidParams
from framebridge.protocol.frames import parse_frames

__all__ = ["FarmRequest", "parse_farm_args"]


@dataclass(frozen=True)
class FarmRequest:
    """One farm send: which script and node, the contiguous frame range, where results go and knob overrides."""

    script: str
    node: str
    first: int | None = None
    last: int | None = None
    output_folder: str | None = None
    knobs: dict[str, Any] = field(default_factory=dict)
    save_as: str | None = None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # a typed error instead of argparse's exit
        raise InvalidParams(f"framebridge_send.py: {message}", fix=self.format_usage().strip())


def _knob(text: str) -> tuple[str, Any]:
    """``name=value``; a number or true/false becomes one, anything else (prompts, JSON params) stays text."""
    name, separator, value = text.partition("=")
    if not separator or not name.strip():
        raise InvalidParams(f"--set needs name=value, got {text!r}")
    try:
        parsed = json.loads(value)
    except ValueError:
        return name.strip(), value
    return name.strip(), parsed if isinstance(parsed, (bool, int, float)) else value


def parse_farm_args(argv: list[str]) -> FarmRequest:
    """The wrapper's arguments (``sys.argv[1:]`` under ``nuke -t``), checked."""
    parser = _Parser(prog="nuke -t framebridge_send.py", add_help=False)
    parser.add_argument("script")
    parser.add_argument("node")
    parser.add_argument("--frames", help="a contiguous range, e.g. --frames=1001-1100 (default: the node's input range)")
    parser.add_argument("--output", help="the output folder (each send writes a new vNNN inside)")
    parser.add_argument("--set", action="append", default=[], help="a FrameBridge knob override, e.g. --set=strength=0.7")
    parser.add_argument("--save-as", help="save the script with the new Read node under this name")
    args = parser.parse_args(argv)
    first = last = None
    if args.frames:
        frames = parse_frames(args.frames)
        if frames != list(range(frames[0], frames[0] + len(frames))):
            raise InvalidParams(f"--frames must be one contiguous range, got {args.frames!r}", fix="e.g. --frames=1001-1100")
        first, last = frames[0], frames[-1]
    return FarmRequest(args.script, args.node, first, last, args.output, dict(map(_knob, args.set)), args.save_as)
