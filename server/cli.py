"""The `framebridge` command: serve, ping, the headless jobs, the restyle cache, and issuing client connection files."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

from framebridge.protocol.buffers import Limits
from framebridge.protocol.connection import default_connection_path, load_or_create
from framebridge.protocol.errors import FrameBridgeError
from framebridge.protocol.version import PROTOCOL_VERSION

from . import __version__
from .connection_command import add_connection_commands, connection_command

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every command and option, each with its help."""
    from .restyle.cpu import LOOKS, PALETTES

    parser = argparse.ArgumentParser(prog="framebridge", description="FrameBridge: AI ops for Blender and Nuke frames.")
    parser.add_argument("--version", action="version", version=f"framebridge {__version__} (protocol {PROTOCOL_VERSION})")
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
                       help="memory for results not yet acknowledged, shared by all jobs, before they spill to disk, in MiB")
    serve.add_argument("--input-timeout", type=float, default=600.0, help="seconds a job waits for its next frame")
    serve.add_argument("--models-config", type=Path, default=None,
                       help="models TOML (default $FRAMEBRIDGE_MODELS or $XDG_CONFIG_HOME/framebridge/models.toml)")
    serve.add_argument("--cache-dir", type=Path, default=None,
                       help="restyle result cache (default $FRAMEBRIDGE_CACHE_DIR or $XDG_CACHE_HOME/framebridge)")
    serve.add_argument("--cache-mb", type=float, default=None,
                       help="size budget of the restyle cache in MiB; least recently used entries go first "
                            "(default $FRAMEBRIDGE_CACHE_MB or 10240)")
    serve.add_argument("--propagate-threads", type=_positive, default=None, metavar="N",
                       help="threads one propagate job uses (default $FRAMEBRIDGE_PROPAGATE_THREADS or every core)")
    serve.add_argument("--ray", metavar="ADDRESS", default=None,
                       help="run op work on Ray actors: 'auto' (the cluster on this machine, else a new local one) or a "
                            "cluster's HOST:PORT; needs pip install 'framebridge[ray]'")
    serve.add_argument("--ray-actors", type=int, default=None, metavar="N",
                       help="with --ray: actors to start (default one per GPU of the cluster, else one per CPU)")
    serve.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"), type=str.upper,
                       help="how much the server logs (default INFO)")

    ping = commands.add_parser("ping", help="check that a server answers, and print its versions")
    ping.add_argument("--connection-file", type=Path, default=None,
                      help=f"the server's connection file (default {default_connection_path()})")
    ping.add_argument("--address", default=None, help="ask this address instead of the one in the connection file")
    ping.add_argument("--timeout", type=float, default=30.0,
                      help="seconds to wait for each answer (default 30: a first capabilities call may load model libraries)")
    ping.add_argument("--capabilities", action="store_true", help="also print ops, backends and limits")

    jobs = commands.add_parser("jobs", help="every job on the server with its owner (the server's owner only; no frames)")
    jobs.add_argument("--connection-file", type=Path, default=None, help="the server's own connection file")
    jobs.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the server's answer")

    run = commands.add_parser(
        "run", help="run an op over a frame sequence headless (in-process, or on a server)",
        description="Run an op over a frame sequence headless. The CPU restyle backend's looks: "
                    f"{', '.join(LOOKS)} (--param look=paint); palettes: {', '.join(sorted(PALETTES))} or a list of "
                    "'#rrggbb' colours (--param 'palette=[\"#102030\", \"#f0e0d0\"]').")
    run.add_argument("op", help="op name, e.g. extract, restyle, echo")
    run.add_argument("--input", help="input frames, e.g. 'render/frame_####.exr' (or .png); required unless --source")
    run.add_argument("--output", help="output frames, e.g. 'out/frame_####.exr'; {name} splits buffers (lipsync cues: --cues)")
    run.add_argument("--frames", help="frame range such as 1-100 or 1-9x2,20 (default: every input file)")
    run.add_argument("--backend", default=None,
                     help="restyle: cpu (default, no weights) or diffusers; extract: builtin (from passes, default) "
                          "or estimators (models estimate depth, normal, pose from the beauty)")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="an op param; the value is read as JSON when it parses, else as text (repeatable)")
    run.add_argument("--params-file", type=Path, help="a JSON file of op params")
    run.add_argument("--shot", type=Path,
                     help="a JSON file of shot metadata (fps, depth_range, camera_matrix, or per-frame cameras under "
                          "frames.<number>.camera_matrix as the demo's render/scene.json has)")
    run.add_argument("--conditions",
                     help="comma-separated: extract's conditions (depth, normal, segmentation, canny, lineart, pose) "
                          "or restyle's ControlNets")
    run.add_argument("--prompt", help="restyle: what the result should look like; the CPU backend picks its look from "
                                      "words such as cartoon, paint, sketch")
    run.add_argument("--negative-prompt", help="restyle: what it should not look like (model backends)")
    run.add_argument("--strength", type=float,
                     help="restyle: 0 (the input) .. 1 (the full look), default 0.6; one value or --param keyframes")
    run.add_argument("--seed", type=int, help="restyle: the shot seed; each frame's seed derives from it and the frame number")
    run.add_argument("--keyframes", metavar="PATTERN",
                     help="propagate: painted keyframes, e.g. 'paint/frame_####.png'; every frame of the range found there is one")
    run.add_argument("--half", action="store_true", help="write EXR results as half floats")
    run.add_argument("--connection-file", type=Path, help="run on this server instead of in-process")
    run.add_argument("--chunk", metavar="K/N",
                     help="farm tasks: run chunk K of N of the frames under the op's chunk rule (warm-up frames run, "
                          "only owned frames written); then `framebridge join` cross-fades the overlaps")
    expression = run.add_argument_group("expression", "a driving performance moves the face in --input or --source")
    expression.add_argument("--driving", help="the driving clip's frames, e.g. 'actor/frame_####.png'")
    expression.add_argument("--source", type=Path, help="a still portrait to animate, instead of --input")
    expression.add_argument("--driving-offset", type=int, help="pair driving frame n + N with target frame n")
    expression.add_argument("--reference-frame", type=int, help="the driving clip's neutral frame (default its first)")
    expression.add_argument("--regions", help="comma-separated: expression, eyes, lips, pose or all (default all)")
    lipsync = run.add_argument_group("lipsync (cues: --audio line.wav --fps 24 --cues out/line.json; a plate: "
                                     "--audio line.wav --fps 24 --start 1001 --input 'plate/frame_####.exr' "
                                     "--output 'out/frame_####.exr' [--backend cpu|wav2lip])")
    lipsync.add_argument("--audio", type=Path, help="dialogue file (WAV, FLAC, AIFF, OGG)")
    lipsync.add_argument("--transcript", help="what is said, to align to (better cues)")
    lipsync.add_argument("--transcript-file", type=Path, help="a UTF-8 text file with what is said")
    lipsync.add_argument("--fps", type=float, help="the shot's frame rate")
    lipsync.add_argument("--start", type=int, default=None,
                         help="the frame the audio starts on (default 1; with --input, the first plate frame)")
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
    demo.add_argument("--frames", type=int, default=6, help="frames to render, from 1 (default 6)")
    demo.add_argument("--width", type=int, default=320, help="render width in pixels (default 320)")
    demo.add_argument("--height", type=int, default=180, help="render height in pixels (default 180)")
    demo.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel (default 16)")
    demo.add_argument("--prompt", default="cartoon, bold ink lines",
                      help="the restyle prompt; its words pick the CPU look (default 'cartoon, bold ink lines')")
    demo.add_argument("--seed", type=int, default=7, help="the restyle shot seed (default 7)")

    join = commands.add_parser("join", help="farm: cross-fade the frames that `run --chunk` tasks both wrote, once all are done")
    join.add_argument("--output", required=True, help="the output pattern the chunk tasks wrote, e.g. 'out/frame_####.exr'")

    cache = commands.add_parser("cache", help="show or clear the restyle result cache")
    cache.add_argument("action", choices=("show", "clear"), nargs="?", default="show",
                       help="show its size per op (default), or clear it")
    cache.add_argument("--cache-dir", type=Path, default=None,
                       help="cache folder (default $FRAMEBRIDGE_CACHE_DIR or $XDG_CACHE_HOME/framebridge)")
    add_connection_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"serve": _serve, "ping": _ping, "run": _run, "models": _models, "demo": _demo,
                "cache": _cache, "connection": connection_command, "jobs": _jobs, "join": _join}[args.command](args)
    except FrameBridgeError as error:
        print(f"framebridge: error [{error.code}]: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"framebridge: {args.command} interrupted; every file written so far is complete"
              + (": run the same command again to resume" if args.command == "run" else ""), file=sys.stderr)
        return 130


def _one_line(error: FrameBridgeError) -> str:
    """The error with its fix, and the allowed choices when neither names them."""
    text = " ".join(str(error).split())
    allowed = error.details.get("allowed")
    if isinstance(allowed, list) and allowed and not error.fix:
        text += f" (choose one of: {', '.join(map(str, allowed))})"
    return text


def _serve(args: argparse.Namespace) -> int:
    from .arguments import check_connection_folder, check_endpoint
    from .clients import ClientRegistry
    from .memory import keep_frame_memory
    from .server import Server

    keep_frame_memory()
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The backends read these when they load; the flags win over the environment.
    if args.models_config:
        os.environ["FRAMEBRIDGE_MODELS"] = str(args.models_config.resolve())
    if args.cache_dir:
        os.environ["FRAMEBRIDGE_CACHE_DIR"] = str(args.cache_dir.resolve())
    if args.cache_mb is not None:
        os.environ["FRAMEBRIDGE_CACHE_MB"] = str(args.cache_mb)
    if args.propagate_threads is not None:
        os.environ["FRAMEBRIDGE_PROPAGATE_THREADS"] = str(args.propagate_threads)
    connection_file = args.connection_file or default_connection_path()
    if args.address:
        check_endpoint(args.address)
    check_connection_folder(connection_file)
    info = load_or_create(connection_file, args.address, curve=args.curve)
    limits = Limits(max_message_bytes=args.max_message_mb << 20, max_width=args.max_dimension,
                    max_height=args.max_dimension, credit_window=args.credit_window)
    registry = ClientRegistry.for_server(connection_file) if info.curve_secret else None
    server = Server(info, limits=limits, workers=args.workers, retain_bytes=args.retain_mb << 20,
                    input_timeout=args.input_timeout, registry=registry, executor=_ray_executor(args))
    if server.address != info.address:
        replace(info, address=server.address).write(connection_file)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    print(f"framebridge: listening on {server.address} (connection file {connection_file})", flush=True)
    if registry is not None:
        active = sum(record.active for record in registry.records.values())
        print(f"framebridge: {active} client(s) admitted ({registry.path}); other machines need a file from "
              "`framebridge connection export NAME --host HOST`", flush=True)
    server.serve_forever()
    return 0


def _ray_executor(args: argparse.Namespace):
    """With --ray, the executor that runs ops on a Ray actor pool (Ray is imported only then); else None."""
    if args.ray is None:
        if args.ray_actors is not None:
            raise FrameBridgeError("--ray-actors needs --ray", fix="add --ray auto (or --ray HOST:PORT)")
        return None
    from .scale.executor import ChunkExecutor
    from .scale.pool import start_pool

    pool = start_pool(args.ray, args.ray_actors)
    print(f"framebridge: {pool.size} Ray actor(s) ready in {pool.start_seconds:.1f} s", flush=True)
    return ChunkExecutor(pool)


def _ping(args: argparse.Namespace) -> int:
    from framebridge.protocol.client import Client

    with Client(args.connection_file, address=args.address, timeout=args.timeout) as client:
        reply = client.ping()
        print(f"framebridge {reply['server_version']} (protocol {reply['protocol_version']}) at "
              f"{client.connection.address}: {reply['round_trip'] * 1000:.1f} ms")
        if args.capabilities:
            print(json.dumps(client.capabilities(), indent=2, sort_keys=True))
    return 0


def _jobs(args: argparse.Namespace) -> int:
    from framebridge.protocol.client import Client

    with Client(args.connection_file, timeout=args.timeout) as client:
        listed = client.jobs()
    if not listed:
        print("framebridge: no jobs on the server")
    for job in listed:
        print(f"{job['id']:<34} {job['owner']:<20} {job['op']:<10} {job['state']:<24} "
              f"{job['done']}/{job['total']} done, {job['failed']} failed, {job['received']} received")
    return 0


def _run(args: argparse.Namespace) -> int:
    from .memory import keep_frame_memory

    keep_frame_memory()
    if args.chunk and args.op == "lipsync":
        raise FrameBridgeError("lipsync is never split into chunks: its cues and plates depend on the whole shot",
                               fix="run it as one task, without --chunk")
    if args.op == "lipsync" and args.audio is not None and args.input:
        return _run_lipsync_plate(args)
    if args.op == "lipsync" and args.audio is not None:
        return _run_lipsync_cues(args)
    if not args.output:
        raise FrameBridgeError("--output is required", fix="e.g. --input 'render/frame_####.exr' "
                               "--output 'out/frame_####.exr' (lipsync cues take --audio and --cues instead)")
    from .runner import ProgressLine, run_sequence
    from framebridge.protocol.frames import parse_frames

    from .arguments import read_json_object
    from .farm_chunks import parse_chunk
    from .sequences import FramePattern, read_keyframes

    params = read_json_object(args.params_file, "--params-file") if args.params_file else {}
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
    shot = read_json_object(args.shot, "--shot") if args.shot else {}
    frames = parse_frames(args.frames) if args.frames else None
    job_buffers, paired = {}, {}
    if args.op == "expression":
        expression_run = _expression_run(args, frames, params)
        frames, params = expression_run.frames, expression_run.params
        job_buffers, paired = expression_run.job_buffers, expression_run.paired
    elif args.input is None:
        raise FrameBridgeError("--input is required", fix="name the input frames, e.g. --input 'render/frame_####.exr'")
    frames = frames or FramePattern(args.input).existing_frames()
    if args.keyframes:
        job_buffers = read_keyframes(FramePattern(args.keyframes), frames)
    chunk = parse_chunk(args.chunk) if args.chunk else None
    progress = ProgressLine(args.op, max(len(frames), 1))
    report = run_sequence(args.op, args.input, args.output, frames, params=params, shot=shot, backend=args.backend,
                          connection_file=args.connection_file, half=args.half, on_frame=progress,
                          job_buffers=job_buffers, paired=paired, chunk=chunk)
    if report.chunk is not None:
        frames = _chunk_line(args.op, report.chunk)
    written = sum(len(paths) for number, paths in report.written.items()
                  if number not in report.up_to_date and number not in report.kept)
    unchanged = len(report.up_to_date) + len(report.kept)
    print(f"{args.op}: {len(report.written)}/{len(frames)} frames, {written} files written"
          f"{f' ({unchanged} frames already up to date)' if unchanged else ''} in {report.seconds:.1f} s -> {args.output}")
    partial = {number: meta["failed_conditions"] for number, meta in sorted(report.meta.items()) if meta.get("failed_conditions")}
    for number, failures in partial.items():
        for condition, error in failures.items():
            fix = f" (fix: {error['fix']})" if error.get("fix") else ""
            print(f"  frame {number}: {condition} failed [{error['code']}]: {error['message']}{fix}", file=sys.stderr)
    for number, error in sorted(report.failed.items()):
        print(f"  frame {number} failed [{error.code}]: {error}", file=sys.stderr)
    return 1 if report.failed or partial else 0


def _chunk_line(op: str, piece) -> list[int]:
    """Say what a chunk task ran; the frames it owns."""
    chunk = piece.chunk
    if chunk is None:
        print(f"{op}: chunk {piece.index}: nothing to do (the op's rule {piece.rule} makes {piece.count} chunks of this shot)")
        return []
    print(f"{op}: chunk {piece.index} of {piece.count} owns frames {chunk.frames[0]}-{chunk.frames[-1]}; ran "
          f"{len(chunk.lead)} warm-up and {len(chunk.tail)} tail frames more"
          + (f", wrote {len(piece.side)} overlap frames for `framebridge join`" if piece.side else ""))
    return list(chunk.frames)


def _join(args: argparse.Namespace) -> int:
    from .farm_chunks import join_fades

    report = join_fades(args.output)
    print(f"join: {len(report.joined)} overlap frames cross-faded -> {args.output}")
    for number, absent in sorted(report.missing.items()):
        print(f"  frame {number} not joined: missing {absent} (run that chunk again)", file=sys.stderr)
    return 1 if report.missing else 0


def _run_lipsync_cues(args: argparse.Namespace) -> int:
    from framebridge.protocol.frames import parse_frames

    from .lipsync.command import read_transcript, run_cues

    if args.cues is None or args.fps is None:
        raise FrameBridgeError("lipsync cues need --cues and --fps", fix="e.g. --fps 24 --start 1001 --cues out/line.json")
    run = run_cues(args.audio, args.cues, fps=args.fps, start=1 if args.start is None else args.start, offset=args.offset,
                   transcript=read_transcript(args.transcript, args.transcript_file), cue_format=args.cue_format,
                   preston_blair=args.preston_blair, extended_shapes=args.extended_shapes,
                   frames=parse_frames(args.frames) if args.frames else None, connection_file=args.connection_file)
    frames = sorted(run.shapes)
    print(f"lipsync: {len(run.cues)} cues ({run.method}) over frames {frames[0]}-{frames[-1]} in {run.seconds:.1f} s "
          f"-> {run.path}")
    for note in run.notes:
        print(f"  note: {note}", file=sys.stderr)
    return 0


def _run_lipsync_plate(args: argparse.Namespace) -> int:
    from framebridge.protocol.frames import parse_frames

    from .lipsync.command import read_transcript, run_plate
    from .runner import ProgressLine
    from .sequences import FramePattern

    if not args.output or args.fps is None:
        raise FrameBridgeError("a lipsync plate needs --output and --fps",
                               fix="e.g. --input 'plate/frame_####.exr' --output 'out/frame_####.exr' --fps 24 --start 1001")
    frames = parse_frames(args.frames) if args.frames else FramePattern(args.input).existing_frames()
    run = run_plate(args.audio, args.input, args.output, fps=args.fps, start=args.start, offset=args.offset,
                    transcript=read_transcript(args.transcript, args.transcript_file), backend=args.backend,
                    frames=frames, connection_file=args.connection_file, half=args.half, cues_path=args.cues,
                    cue_format=args.cue_format, preston_blair=args.preston_blair, extended_shapes=args.extended_shapes,
                    on_frame=ProgressLine("lipsync", max(len(frames), 1)))
    report = run.report
    print(f"lipsync plate: {len(report.written)}/{len(frames)} frames in {report.seconds:.1f} s -> {args.output}"
          + (f", cues -> {run.cues_path}" if run.cues_path else ""))
    if run.faceless:
        print(f"  no face (passed through unchanged): frames {_frame_list(run.faceless)}", file=sys.stderr)
    for note in run.notes:
        print(f"  note: {note}", file=sys.stderr)
    for number, error in sorted(report.failed.items()):
        print(f"  frame {number} failed [{error.code}]: {error}", file=sys.stderr)
    return 1 if report.failed else 0


def _frame_list(numbers: list[int]) -> str:
    shown = ", ".join(str(number) for number in numbers[:20])
    return shown + (f" and {len(numbers) - 20} more" if len(numbers) > 20 else "")


def _expression_run(args: argparse.Namespace, frames: list[int] | None, params: dict):
    from .expression.job import plan_expression_run

    if not args.driving:
        raise FrameBridgeError("expression needs --driving", fix="name the driving clip, e.g. --driving 'actor/frame_####.png'")
    if args.regions:
        params["regions"] = [name.strip() for name in args.regions.split(",") if name.strip()]
    return plan_expression_run(args.driving, input_pattern=args.input, source=args.source, frames=frames,
                               driving_offset=args.driving_offset, reference_frame=args.reference_frame, params=params)


def _models(args: argparse.Namespace) -> int:
    from .models import models_command

    return models_command(args)


def _demo(args: argparse.Namespace) -> int:
    from .demo import demo_command

    return demo_command(args)


def _cache(args: argparse.Namespace) -> int:
    from .restyle.cache import cache_entries, clear_cache, default_cache_budget, default_cache_dir

    root = args.cache_dir or default_cache_dir()
    if args.action == "clear":
        count, nbytes = clear_cache(root)
        print(f"{root}: removed {count} entries, {nbytes / (1 << 20):.1f} MiB")
        return 0
    entries = cache_entries(root)
    total = sum(entry.nbytes for entry in entries)
    print(f"{root}: {len(entries)} entries, {total / (1 << 20):.1f} MiB of a {default_cache_budget() / (1 << 20):.0f} MiB budget")
    by_op: dict[str, list[int]] = {}
    for entry in entries:
        by_op.setdefault(entry.op, []).append(entry.nbytes)
    for op, sizes in sorted(by_op.items()):
        print(f"  {op}: {len(sizes)} entries, {sum(sizes) / (1 << 20):.1f} MiB")
    return 0


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)
