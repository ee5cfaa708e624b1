"""The `framebridge` command: serve, ping, and the headless jobs."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path

from framebridge.protocol.buffers import Limits
from framebridge.protocol.connection import ConnectionInfo, default_connection_path, load_or_create
from framebridge.protocol.errors import FrameBridgeError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="framebridge", description="FrameBridge: AI ops for Blender and Nuke frames.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server (loopback by default)")
    serve.add_argument("--address", default=os.environ.get("FRAMEBRIDGE_ADDRESS"),
                       help="ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:5581 or tcp://127.0.0.1:* (env FRAMEBRIDGE_ADDRESS)")
    serve.add_argument("--connection-file", type=Path, default=None,
                       help=f"where the address and signing key are written (default {default_connection_path()})")
    serve.add_argument("--curve", action="store_true", help="create CURVE keys; required to bind a non-loopback address")
    serve.add_argument("--workers", type=int, default=1, help="jobs that run at once (default 1: one GPU, one job)")
    serve.add_argument("--credit-window", type=int, default=Limits.credit_window, help="input frames in flight per job")
    serve.add_argument("--max-message-mb", type=int, default=Limits.max_message_bytes >> 20,
                       help="largest message accepted, in MiB")
    serve.add_argument("--max-dimension", type=int, default=Limits.max_width, help="largest frame width or height")
    serve.add_argument("--retain-mb", type=int, default=1024,
                       help="memory for results not yet acknowledged before they spill to disk, in MiB")
    serve.add_argument("--input-timeout", type=float, default=600.0, help="seconds a job waits for its next frame")
    serve.add_argument("--models-config", type=Path, default=None,
                       help="models TOML (default $FRAMEBRIDGE_MODELS or $XDG_CONFIG_HOME/framebridge/models.toml)")
    serve.add_argument("--cache-dir", type=Path, default=None,
                       help="restyle result cache (default $FRAMEBRIDGE_CACHE_DIR or $XDG_CACHE_HOME/framebridge)")
    serve.add_argument("--log-level", default="INFO")

    ping = commands.add_parser("ping", help="check that a server answers, and print its versions")
    ping.add_argument("--connection-file", type=Path, default=None)
    ping.add_argument("--address", default=None)
    ping.add_argument("--timeout", type=float, default=5.0)
    ping.add_argument("--capabilities", action="store_true", help="also print ops, backends and limits")

    run = commands.add_parser("run", help="run an op over a frame sequence headless (in-process, or on a server)")
    run.add_argument("op", help="op name, e.g. extract, restyle, echo")
    run.add_argument("--input", help="input frames, e.g. 'render/frame_####.exr' (or .png)")
    run.add_argument("--output", help="output frames, e.g. 'out/frame_####.exr'; {name} splits buffers")
    run.add_argument("--frames", help="frame range such as 1-100 or 1-9x2,20 (default: every input file)")
    run.add_argument("--backend", default=None)
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="an op param; the value is read as JSON when it parses, else as text (repeatable)")
    run.add_argument("--params-file", type=Path, help="a JSON file of op params")
    run.add_argument("--shot", type=Path, help="a JSON file of shot metadata (fps, depth_range, camera ...)")
    run.add_argument("--conditions", help="comma-separated conditions (extract) or ControlNets (restyle)")
    run.add_argument("--prompt")
    run.add_argument("--negative-prompt")
    run.add_argument("--strength", type=float)
    run.add_argument("--seed", type=int)
    run.add_argument("--half", action="store_true", help="write EXR results as half floats")
    run.add_argument("--connection-file", type=Path, help="run on this server instead of in-process")
    lipsync = run.add_argument_group("lipsync cues (framebridge run lipsync --audio line.wav --fps 24 --cues out/line.json)")
    lipsync.add_argument("--audio", type=Path, help="dialogue file (WAV, FLAC, AIFF, OGG)")
    lipsync.add_argument("--transcript", help="what is said, to align to (better cues)")
    lipsync.add_argument("--transcript-file", type=Path, help="a UTF-8 text file with what is said")
    lipsync.add_argument("--fps", type=float, help="the shot's frame rate")
    lipsync.add_argument("--start", type=int, default=1, help="the frame the audio starts on (default 1)")
    lipsync.add_argument("--offset", type=float, default=0.0, help="shift the audio by this many frames (may be fractional)")
    lipsync.add_argument("--cues", type=Path, help="cue file to write: .json, .tsv, .xml or .dat (Rhubarb's layouts)")
    lipsync.add_argument("--format", dest="cue_format", help="cue format when the extension does not say it")
    lipsync.add_argument("--preston-blair", action="store_true", help="Preston Blair shape names in a .dat file")
    lipsync.add_argument("--extended-shapes", default="GHX", help="which optional shapes the rig has (default GHX)")

    models = commands.add_parser("models", help="list the configured models: present, missing, and how to fix")
    models.add_argument("--models-config", type=Path, default=None,
                        help="models TOML (default $FRAMEBRIDGE_MODELS or $XDG_CONFIG_HOME/framebridge/models.toml)")

    demo = commands.add_parser("demo", help="render a Blender shot, restyle it on the CPU through a local server")
    demo.add_argument("--out", default="demo-output", help="folder for renders, results and the contact sheet")
    demo.add_argument("--frames", type=int, default=6)
    demo.add_argument("--width", type=int, default=320)
    demo.add_argument("--height", type=int, default=180)
    demo.add_argument("--samples", type=int, default=16)
    demo.add_argument("--prompt", default="cartoon, bold ink lines")
    demo.add_argument("--seed", type=int, default=7)

    args = parser.parse_args(argv)
    try:
        return {"serve": _serve, "ping": _ping, "run": _run, "models": _models, "demo": _demo}[args.command](args)
    except FrameBridgeError as error:
        print(f"framebridge: error [{error.code}]: {error}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    from .server import Server

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The backends read these when they load; the flags win over the environment.
    if args.models_config:
        os.environ["FRAMEBRIDGE_MODELS"] = str(args.models_config.resolve())
    if args.cache_dir:
        os.environ["FRAMEBRIDGE_CACHE_DIR"] = str(args.cache_dir.resolve())
    connection_file = args.connection_file or default_connection_path()
    info = load_or_create(connection_file, args.address, curve=args.curve)
    limits = Limits(max_message_bytes=args.max_message_mb << 20, max_width=args.max_dimension,
                    max_height=args.max_dimension, credit_window=args.credit_window)
    server = Server(info, limits=limits, workers=args.workers, retain_bytes=args.retain_mb << 20,
                    input_timeout=args.input_timeout)
    if server.address != info.address:
        ConnectionInfo(server.address, info.key, info.curve_public, info.curve_secret).write(connection_file)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    print(f"framebridge: listening on {server.address} (connection file {connection_file})", flush=True)
    server.serve_forever()
    return 0


def _ping(args: argparse.Namespace) -> int:
    from framebridge.protocol.client import Client

    with Client(args.connection_file, address=args.address, timeout=args.timeout) as client:
        reply = client.ping()
        print(f"framebridge {reply['server_version']} (protocol {reply['protocol_version']}) at "
              f"{client.connection.address}: {reply['round_trip'] * 1000:.1f} ms")
        if args.capabilities:
            print(json.dumps(client.capabilities(), indent=2, sort_keys=True))
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.op == "lipsync" and args.audio is not None and not args.input:
        return _run_lipsync_cues(args)
    if not args.input or not args.output:
        raise FrameBridgeError("--input and --output are required", fix="e.g. --input 'render/frame_####.exr' "
                               "--output 'out/frame_####.exr' (lipsync cues take --audio and --cues instead)")
    from .runner import ProgressLine, run_sequence
    from framebridge.protocol.frames import parse_frames

    from .sequences import FramePattern

    params = json.loads(args.params_file.read_text()) if args.params_file else {}
    for item in args.param:
        key, separator, value = item.partition("=")
        if not separator:
            raise FrameBridgeError(f"--param {item!r} is not KEY=VALUE")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    for key in ("prompt", "negative_prompt", "strength", "seed"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.conditions:
        params["conditions"] = [name.strip() for name in args.conditions.split(",") if name.strip()]
    shot = json.loads(args.shot.read_text()) if args.shot else {}
    frames = parse_frames(args.frames) if args.frames else FramePattern(args.input).existing_frames()
    progress = ProgressLine(args.op, max(len(frames), 1))
    report = run_sequence(args.op, args.input, args.output, frames, params=params, shot=shot, backend=args.backend,
                          connection_file=args.connection_file, half=args.half, on_frame=progress)
    written = sum(len(paths) for paths in report.written.values())
    print(f"{args.op}: {len(report.written)}/{len(frames)} frames, {written} files in {report.seconds:.1f} s "
          f"-> {args.output}")
    for number, error in sorted(report.failed.items()):
        print(f"  frame {number} failed [{error.code}]: {error}", file=sys.stderr)
    return 1 if report.failed else 0


def _run_lipsync_cues(args: argparse.Namespace) -> int:
    from framebridge.protocol.frames import parse_frames

    from .lipsync.command import read_transcript, run_cues

    if args.cues is None or args.fps is None:
        raise FrameBridgeError("lipsync cues need --cues and --fps", fix="e.g. --fps 24 --start 1001 --cues out/line.json")
    run = run_cues(args.audio, args.cues, fps=args.fps, start=args.start, offset=args.offset,
                   transcript=read_transcript(args.transcript, args.transcript_file), cue_format=args.cue_format,
                   preston_blair=args.preston_blair, extended_shapes=args.extended_shapes,
                   frames=parse_frames(args.frames) if args.frames else None, connection_file=args.connection_file)
    frames = sorted(run.shapes)
    print(f"lipsync: {len(run.cues)} cues ({run.method}) over frames {frames[0]}-{frames[-1]} in {run.seconds:.1f} s "
          f"-> {run.path}")
    for note in run.notes:
        print(f"  note: {note}", file=sys.stderr)
    return 0


def _models(args: argparse.Namespace) -> int:
    from .models import models_command

    return models_command(args)


def _demo(args: argparse.Namespace) -> int:
    from .demo import demo_command

    return demo_command(args)
