"""The fake ``nuke`` module, fresh per test, with image nodes and a way to let a GUI send finish."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

HEIGHT, WIDTH = 16, 24


def load_fake_nuke():
    spec = importlib.util.spec_from_file_location("nuke", Path(__file__).with_name("fake_nuke.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["nuke"] = module  # the fake's press() runs button scripts that import nuke
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def nuke(monkeypatch):
    """A fresh fake ``nuke`` in sys.modules, and the host modules imported against it."""
    monkeypatch.setitem(sys.modules, "nuke", None)  # remembers what was there; restored after the test
    fake = load_fake_nuke()
    for name in [name for name in sys.modules if name.startswith("framebridge.nuke_plugin.host")]:
        monkeypatch.delitem(sys.modules, name)
    return fake


def planes(number, layers=("rgba", "depth", "forward", "backward"), offset=0.0):
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    all_planes = {
        "rgba.red": (columns + number) / WIDTH + offset, "rgba.green": rows / HEIGHT, "rgba.blue": np.full_like(rows, 0.5),
        "rgba.alpha": np.ones_like(rows), "depth.Z": 1.0 + rows, "forward.u": np.ones_like(rows),
        "forward.v": np.zeros_like(rows), "backward.u": -np.ones_like(rows), "backward.v": np.zeros_like(rows),
        "N.red": np.zeros_like(rows), "N.green": np.zeros_like(rows), "N.blue": np.ones_like(rows),
        "mask.a": np.zeros_like(rows),
    }
    return {name: plane for name, plane in all_planes.items() if name.split(".")[0] in layers}


@pytest.fixture
def plate(nuke):
    """``plate(name, frames, layers, views)``: an image node at (100, 200) with per-frame planes (per view if given)."""

    def make(name="Plate1", frames=(1, 2, 3), layers=("rgba", "depth", "forward", "backward"), views=None):
        frame_planes = {number: planes(number, layers) for number in frames}
        per_view = None
        if views:
            per_view = {view: {number: planes(number, layers, offset=index) for number in frames}
                        for index, view in enumerate(views)}
        node = nuke.make_image_node(name, frame_planes, per_view)
        node.setXYpos(100, 200)
        return node

    make.planes = planes
    return make


@pytest.fixture
def settle(nuke):
    """Let a GUI send run to its end: its threads finish and Nuke's event loop runs what they queued."""

    def run(timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ran = nuke.run_main_thread()
            busy = [thread for thread in threading.enumerate() if thread.name.startswith("FrameBridge")]
            if not busy and not ran:
                return
            for thread in busy:
                thread.join(0.05)
        raise AssertionError("the send did not finish in time")

    return run


@pytest.fixture(scope="session")
def server(server):
    """The shared server, once it has described its ops: the first description imports the model backends, which
    takes longer than the plugin's reply timeout on a loaded machine."""
    client = server.client(timeout=120)
    try:
        client.capabilities()
    finally:
        client.close()
    return server
