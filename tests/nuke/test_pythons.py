"""The client side under every Nuke's Python, from the install bundle itself.

For Python 3.9 (Nuke 14), 3.10 (Nuke 15) and 3.11 (Nuke 16) the linux bundle is
built (scripts/build_nuke_plugin.py: the framebridge wheel and the pinned
dependency wheels for that Python), unzipped into an empty folder and:

- its init.py and menu.py load against the fake ``nuke`` in a fresh interpreter of
  that version that has only numpy (Nuke's own) besides the bundle, started
  isolated (``-I``: no PYTHONPATH, no user site, not this checkout), and a node made
  from its menu round-trips frames with the live server of this session;
- under 3.9 and 3.10, the protocol and Nuke plugin tests run against the bundle's
  site-packages, talking to this session's server (the server needs 3.11, and says so).

Interpreters come from pyenv; venvs holding numpy and pytest are cached in
``.ci-cache/`` (git-ignored) between runs.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("build_nuke_plugin", ROOT / "scripts" / "build_nuke_plugin.py")
build_nuke_plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_nuke_plugin)

pytestmark = pytest.mark.slow

NUKES = {"3.9": "14", "3.10": "15", "3.11": "16"}
# Nuke ships numpy; this one stands in for it. pytest for the client tests run under the older Pythons.
VENV_PACKAGES = ["numpy==1.26.4", "pytest==8.3.5", "pytest-timeout==2.3.1"]
CACHE = ROOT / ".ci-cache"


def interpreter(version: str) -> str:
    """The python<version> executable: on PATH, or in pyenv's versions folder (its shims refuse unselected versions)."""
    candidates = [shutil.which(f"python{version}") or ""]
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"), reverse=True)
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=60)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    pytest.fail(f"Python {version} is not installed (pyenv install {version}); CI runs the client tests under it")


def venv(version: str) -> Path:
    """A cached venv of Python ``version`` with only :data:`VENV_PACKAGES` (no system site-packages)."""
    key = hashlib.sha256(" ".join(VENV_PACKAGES).encode()).hexdigest()[:10]
    folder = CACHE / f"nuke-python{version}-{key}"
    python = folder / "bin" / "python"
    if not (folder / "ready").exists():
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([interpreter(version), "-m", "venv", str(folder)], check=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--only-binary=:all:", *VENV_PACKAGES],
                       check=True, timeout=600)
        (folder / "ready").write_text(" ".join(VENV_PACKAGES))
    return python


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Python version -> the unzipped linux bundle for that Nuke (one framebridge wheel built for all)."""
    work = tmp_path_factory.mktemp("bundles")
    wheel = build_nuke_plugin.framebridge_wheel(work / "wheel")
    unpacked = {}
    for version, nuke in NUKES.items():
        archive = build_nuke_plugin.build(nuke, "linux", work / "zips", wheel)
        target = work / f"python{version}"
        target.mkdir()  # empty until the bundle is unzipped into it
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(target)
        unpacked[version] = target / "FrameBridge"
    return unpacked


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, **options)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return result


# Nuke's start-up, as far as the plugin sees it: pluginAddPath puts the folder on sys.path and
# on pluginPath(), init.py then menu.py run; then an artist uses the menu and presses Send.
NUKE_SESSION = r"""
import importlib.util, json, runpy, sys
fake, plugin, plate_frames, connection, output = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("nuke", fake)
nuke = importlib.util.module_from_spec(spec)
sys.modules["nuke"] = nuke
spec.loader.exec_module(nuke)
nuke.GUI = True
nuke.plugin_path.append(plugin)
sys.path.insert(0, plugin)
runpy.run_path(plugin + "/init.py")
runpy.run_path(plugin + "/menu.py")
import numpy as np
rows, columns = np.mgrid[0:8, 0:12].astype(np.float32)
frames = {n: {"rgba.red": columns / 12 + n, "rgba.green": rows / 8, "rgba.blue": np.zeros_like(rows),
              "rgba.alpha": np.ones_like(rows)} for n in range(1, int(plate_frames) + 1)}
plate = nuke.make_image_node("Plate1", frames)
nuke.select(plate)
nuke.menus["Nuke"].items["FrameBridge"].items["FrameBridge Node"]()
node = nuke.toNode("FrameBridge1")
node["op"].setValue("echo")
node["connection_file"].setValue(connection)
node["output_folder"].setValue(output)
nuke.GUI = False  # the send then runs in this thread, as under nuke -t
nuke.press(node, "send")
import framebridge, zmq, OpenEXR
read = node.input(1)
print(json.dumps({
    "status": node["status"].value(),
    "read": read["file"].getText() if read is not None else None,
    "last": read["last"].value() if read is not None else None,
    "framebridge": framebridge.__path__[0], "zmq": zmq.__file__, "OpenEXR": OpenEXR.__file__,
    "python": "%d.%d" % sys.version_info[:2],
}))
"""


@pytest.mark.parametrize("version", list(NUKES))
def test_the_bundle_loads_in_a_bare_interpreter_and_round_trips_frames(bundles, server, tmp_path, version):
    plugin = bundles[version]
    python = venv(version)
    result = run([str(python), "-I", "-c", NUKE_SESSION, str(Path(__file__).with_name("fake_nuke.py")), str(plugin), "3",
                  str(server.connection_file), str(tmp_path / "out")], cwd=tmp_path)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["python"] == version
    for module in ("framebridge", "zmq", "OpenEXR"):
        assert report[module].startswith(str(plugin / "site-packages")), report
    assert report["status"].startswith("done: 3 frames"), report
    assert report["read"].endswith("/v001/frame_####.exr") and report["last"] == 3
    assert sorted(path.name for path in (tmp_path / "out" / "v001").iterdir()) == [
        "frame_0001.exr", "frame_0002.exr", "frame_0003.exr"]
    shipped = (plugin / "BUNDLE.txt").read_text()
    for pin in build_nuke_plugin.pinned():
        name, version_pin = pin.split("==")
        assert f"{name}-{version_pin}-" in shipped, (pin, shipped)
    assert "numpy" not in shipped  # Nuke's own numpy is used


@pytest.mark.parametrize("version", ["3.9", "3.10"])
def test_protocol_and_nuke_tests_pass_under_older_pythons(bundles, server, tmp_path, version):
    python = venv(version)
    site = bundles[version] / "site-packages"
    tests = [str(path) for folder in ("protocol", "nuke") for path in sorted((ROOT / "tests" / folder).glob("test_*.py"))
             if path.name != Path(__file__).name]
    environment = {**os.environ, "PYTHONPATH": str(site), "FRAMEBRIDGE_TEST_SERVER_CONNECTION": str(server.connection_file)}
    result = run([str(python), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow",
                  f"--basetemp={tmp_path / 'pytest'}", *tests], cwd=ROOT, env=environment)
    assert " passed" in result.stdout.splitlines()[-1], result.stdout[-2000:]
    refused = subprocess.run([str(python), "-m", "framebridge.server", "serve"], capture_output=True, text=True,
                             timeout=120, env=environment)
    assert refused.returncode != 0 and "needs Python 3.11 or newer" in refused.stderr
