"""`framebridge demo`: settings checked before rendering, and a rerun starts from empty render/restyled folders."""

from __future__ import annotations

import subprocess

import pytest

from framebridge.protocol.errors import InvalidParams
from framebridge.server import demo
from framebridge.server.cli import main
from framebridge.server.demo import DemoSettings, run_demo


class RenderCalled(Exception):
    """Raised by the stand-in renderer so a test can stop the demo at its first stage."""


@pytest.mark.parametrize("name", ["frames", "width", "height", "samples"])
def test_counts_and_sizes_below_one_are_refused_before_rendering(tmp_path, monkeypatch, name) -> None:
    monkeypatch.setattr(demo.subprocess, "run", lambda *args, **kwargs: pytest.fail("the demo rendered"))
    with pytest.raises(InvalidParams, match=f"--{name} must be a whole number of at least 1"):
        run_demo(DemoSettings(tmp_path, **{name: 0}))


def test_demo_command_with_zero_frames_exits_with_a_clear_error(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(demo.subprocess, "run", lambda *args, **kwargs: pytest.fail("the demo rendered"))
    assert main(["demo", "--out", str(tmp_path), "--frames", "0"]) == 2
    assert "--frames must be a whole number of at least 1, got 0" in capsys.readouterr().err


def test_a_rerun_clears_only_its_own_render_and_restyled_folders_before_rendering(tmp_path, monkeypatch) -> None:
    stale = [tmp_path / "render" / "frame_0006.exr", tmp_path / "restyled" / "frame_0006.exr"]
    kept = tmp_path / "notes.txt"
    for path in (*stale, kept):
        path.parent.mkdir(exist_ok=True)
        path.write_text("from an earlier run", encoding="utf-8")
    seen = {}

    def render(*args, **kwargs) -> subprocess.CompletedProcess:
        seen.update({path: path.exists() for path in (*stale, kept)})
        raise RenderCalled

    monkeypatch.setattr(demo.subprocess, "run", render)
    with pytest.raises(RenderCalled):
        run_demo(DemoSettings(tmp_path, frames=3))
    assert seen == {stale[0]: False, stale[1]: False, kept: True}
