"""Bridge overhead: the restyle op through `framebridge serve` vs the same diffusers backend in-process.

Run: python benchmarks/bridge_overhead.py [--frames 8] [--size 256] [--steps 10] [--rounds 5]

Both sides run the tiny random-weight SD 1.5 pipeline (two ControlNets: depth and canny) that
the tests build, on the CPU, on the same frames:
- in-process: ``DiffusersBackend.run`` called once per frame, nothing else;
- bridge: the frames streamed as float32 buffers to a real server subprocess, the ``restyle``
  op on backend ``diffusers`` (temporal blending and the cache off, so only the bridge is
  added), results streamed back; timed from submit to the last result.
Each round measures both, one after the other (alternating which goes first), so load from
other processes falls on both; medians and best rounds are compared. Goal: the bridge adds at
most 5%.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from fixtures.models import TinyModels  # noqa: E402
from framebridge.server.launch import spawn_server  # noqa: E402
from framebridge.server.backends import DiffusersBackend  # noqa: E402
from framebridge.server.colour import linear_to_display  # noqa: E402
from framebridge.server.models import load_config  # noqa: E402
from framebridge.server.restyle import StyleRequest  # noqa: E402
from framebridge.server.restyle.schedule import frame_seed  # noqa: E402

PROMPT, NEGATIVE_PROMPT, STRENGTH, GUIDANCE = "a watercolour street at dusk", "blurry", 0.6, 5.0
WEIGHTS = {"depth": 1.0, "canny": 0.5}


def build_models_elsewhere(root: Path) -> TinyModels:
    """Build the tiny models in a child process, so this process holds only what an in-process caller would."""
    code = f"import sys; sys.path.insert(0, {str(TESTS)!r}); from pathlib import Path; " \
           f"from fixtures.models import build_tiny_models; build_tiny_models(Path({str(root)!r}))"
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return TinyModels(root, root / "models.toml")


def make_frames(count: int, size: int) -> dict[int, dict[str, np.ndarray]]:
    """Scene-linear beauty plus the depth and canny condition images (0..1) a client sends after ``extract``."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    frames = {}
    for number in range(1, count + 1):
        beauty = rng.random((size, size, 3), dtype=np.float32) * 0.2 + ramp[None, :, None] * 0.6
        depth = np.repeat(np.repeat(ramp[:, None, None], size, axis=1), 3, axis=2)
        canny = np.zeros((size, size, 3), dtype=np.float32)
        canny[(number * 7) % size, :] = 1.0
        frames[number] = {"beauty": beauty, "control_depth": depth, "control_canny": canny}
    return frames


def op_params(steps: int, seed: int) -> dict:
    return {
        "prompt": PROMPT, "negative_prompt": NEGATIVE_PROMPT, "strength": STRENGTH, "guidance_scale": GUIDANCE,
        "steps": steps, "seed": seed, "conditions": WEIGHTS, "temporal": False, "cache": False,
    }


def time_in_process(backend: DiffusersBackend, frames: dict[int, dict[str, np.ndarray]], steps: int, seed: int) -> float:
    """Seconds for every frame through the backend directly, one frame per call."""
    requests = [
        StyleRequest(
            number=number, image=linear_to_display(buffers["beauty"]),
            conditions={"depth": buffers["control_depth"], "canny": buffers["control_canny"]},
            prompt=PROMPT, negative_prompt=NEGATIVE_PROMPT, strength=STRENGTH, seed=frame_seed(seed, number),
            guidance_scale=GUIDANCE, steps=steps, condition_weights=WEIGHTS,
        )
        for number, buffers in frames.items()
    ]
    start = time.perf_counter()
    for request in requests:
        backend.run([request])
    return time.perf_counter() - start


def time_bridge(client, frames: dict[int, dict[str, np.ndarray]], steps: int, seed: int) -> float:
    """Seconds from submit to the last result for every frame through the server's restyle op."""
    start = time.perf_counter()
    job = client.submit("restyle", frames=list(frames), source=lambda number: frames[number],
                        params=op_params(steps, seed), backend="diffusers")
    outcome = job.wait(timeout=3600)
    elapsed = time.perf_counter() - start
    if outcome.failed or len(outcome.results) != len(frames):
        raise SystemExit(f"bridge run failed: {outcome.state} {outcome.failed}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="framebridge-bench-") as folder:
        models = build_models_elsewhere(Path(folder) / "models")
        frames = make_frames(args.frames, args.size)
        backend = DiffusersBackend(load_config(models.config_file))
        backend.load()
        server = spawn_server(Path(folder) / "server", env={"FRAMEBRIDGE_MODELS": str(models.config_file)})
        client = server.client()
        try:
            time_in_process(backend, dict(list(frames.items())[:1]), args.steps, seed=0)  # warm-up: first-call setup
            time_bridge(client, dict(list(frames.items())[:1]), args.steps, seed=0)  # warm-up: the server loads its models
            direct, bridged = [], []
            for round_number in range(1, args.rounds + 1):
                seed = round_number * 1000
                if round_number % 2:
                    direct.append(time_in_process(backend, frames, args.steps, seed))
                    bridged.append(time_bridge(client, frames, args.steps, seed))
                else:
                    bridged.append(time_bridge(client, frames, args.steps, seed))
                    direct.append(time_in_process(backend, frames, args.steps, seed))
                print(f"round {round_number}: in-process {direct[-1]:.3f} s, bridge {bridged[-1]:.3f} s", flush=True)
        finally:
            client.close()
            server.stop()

    print(f"tiny SD 1.5 + 2 ControlNets, {args.size}x{args.size}, {args.steps} steps x strength {STRENGTH}, "
          f"{args.frames} frames, CPU, {args.rounds} rounds")
    for label, pick in (("median", statistics.median), ("best", min)):
        print(f"{label:>6}: in-process {pick(direct) / args.frames * 1000:.1f} ms/frame, "
              f"bridge {pick(bridged) / args.frames * 1000:.1f} ms/frame, ratio {pick(bridged) / pick(direct):.3f} (goal <= 1.05)")


if __name__ == "__main__":
    main()
