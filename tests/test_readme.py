"""Every command of the README, in the order it gives them, on the demo's own output.

The two install commands are the ones `.ci/run` runs verbatim (checked here; CI runs
them); from the first one this test runs its `framebridge demo`. The "Using it"
commands then run as written, one after another, in the demo's output folder, with
`framebridge serve` in the background for the commands after it. The benchmark
commands are measurements that take minutes: each is started with `--help`.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def readme_blocks() -> list[list[str]]:
    """The command lines of each ```sh block of the README, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [[line for line in block.splitlines() if line.strip()] for block in re.findall(r"```sh\n(.*?)```", text, re.S)]


def command(line: str) -> list[str]:
    """A README line as arguments (comments dropped), run from this interpreter's environment."""
    arguments = shlex.split(line, comments=True)
    if arguments[0].startswith(".venv/bin/"):
        arguments[0] = arguments[0][len(".venv/bin/"):]
    if arguments[0] == "python":
        arguments[0] = sys.executable
    elif (BIN / arguments[0]).exists():
        arguments[0] = str(BIN / arguments[0])
    return arguments


def test_the_install_commands_are_what_ci_runs():
    install, tests = readme_blocks()[:2]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert install[0] in ci and tests[0] in ci and ci.index(install[0]) < ci.index(tests[0])
    assert "torch" not in install[0], "the demo needs no torch"
    assert install[0].endswith("&& .venv/bin/framebridge demo") and tests[0].endswith("&& .venv/bin/python -m pytest")


@pytest.mark.slow
@pytest.mark.blender
def test_every_readme_command_runs_in_order_on_the_demo_output(tmp_path):
    blocks = readme_blocks()
    install, _, using, benchmarks = blocks[0], blocks[1], blocks[2], blocks[-1]
    environment = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "FRAMEBRIDGE_CACHE_DIR": str(tmp_path / "cache"),
                   "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    environment.pop("FRAMEBRIDGE_CONNECTION_FILE", None)

    def run(line: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
        result = subprocess.run(command(line), cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr
        return result

    demo = install[0].split("&&")[-1].strip()
    run(demo, tmp_path, timeout=1800)
    output = tmp_path / "demo-output"
    assert (output / "contact_sheet.png").exists() and len(list((output / "restyled").glob("frame_*.exr"))) == 6

    serve, *rest = using
    assert shlex.split(serve, comments=True) == ["framebridge", "serve"]
    server = subprocess.Popen(command(serve), cwd=output, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        assert "listening on tcp://127.0.0.1" in server.stdout.readline()
        assert (tmp_path / "config" / "framebridge" / "connection.json").exists()
        outputs = [run(line, output) for line in rest]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    assert server.returncode == 0
    assert '"extract"' in outputs[0].stdout and '"restyle"' in outputs[0].stdout
    for condition in ("depth", "normal", "canny"):
        assert len(list((output / "cond").glob(f"control_{condition}.*.png"))) == 6, condition
    assert len(list((output / "out").glob("frame_*.exr"))) == 6
    assert len(list((output / "carried").glob("frame_*.exr"))) == 6

    for line in benchmarks:
        assert "usage:" in run(f"{line.split('#')[0].strip()} --help", ROOT, timeout=300).stdout
