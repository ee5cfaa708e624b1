"""Re-running `framebridge run` on an unchanged shot reads and writes nothing; an edit redoes what the cache rule says."""

from __future__ import annotations

import os

import numpy as np
import pytest

from framebridge.protocol import exr
from framebridge.server import runner
from framebridge.server.runner import run_sequence


@pytest.fixture
def shot(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMEBRIDGE_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(11)
    for number in (1, 2, 3, 4):
        exr.write_exr(tmp_path / f"plate_{number:04d}.exr", {"beauty": rng.random((24, 40, 4), dtype=np.float32),
                                                            "depth": rng.uniform(1, 9, (24, 40)).astype(np.float32)})
    return tmp_path


def reads(monkeypatch) -> list[int]:
    """Every frame number the runner decodes from now on."""
    seen: list[int] = []
    original = runner.read_frame

    def counting(pattern, number):
        seen.append(number)
        return original(pattern, number)

    monkeypatch.setattr(runner, "read_frame", counting)
    return seen


def stamps(folder, pattern="out/r_*.exr") -> dict[str, int]:
    return {path.name: os.stat(path).st_mtime_ns for path in sorted(folder.glob(pattern))}


def restyle(folder, **params):
    return run_sequence("restyle", str(folder / "plate_####.exr"), str(folder / "out/r_####.exr"),
                        params={"prompt": "toon", "seed": 3, **params})


def test_an_unchanged_rerun_reads_no_input_and_rewrites_no_output(shot, monkeypatch):
    first = restyle(shot)
    before = stamps(shot)
    seen = reads(monkeypatch)
    again = restyle(shot)
    assert seen == [] and again.up_to_date == [1, 2, 3, 4] and not again.failed
    assert stamps(shot) == before
    assert {number: again.meta[number]["key"] for number in again.meta} == {n: first.meta[n]["key"] for n in first.meta}


def test_an_unchanged_extract_rerun_skips_the_depth_scan_too(shot, monkeypatch):
    arguments = ("extract", str(shot / "plate_####.exr"), str(shot / "c/c_####.exr"))
    run_sequence(*arguments, params={"conditions": ["depth", "canny"]})
    seen = reads(monkeypatch)
    again = run_sequence(*arguments, params={"conditions": ["depth", "canny"]})
    assert seen == [] and again.up_to_date == [1, 2, 3, 4]
    assert again.meta[2]["depth_range_source"] == "shot"


def test_editing_one_frame_without_temporal_reads_and_writes_only_that_frame(shot, monkeypatch):
    restyle(shot, temporal=False)
    frame = exr.read_frame(shot / "plate_0003.exr")
    frame["beauty"][2:6, 2:6, :3] += 0.5
    exr.write_exr(shot / "plate_0003.exr", frame)
    before = stamps(shot)
    seen = reads(monkeypatch)
    again = restyle(shot, temporal=False)
    assert seen == [3] and again.up_to_date == [1, 2, 4] and again.meta[3]["cache"] == "miss"
    after = stamps(shot)
    assert [name for name in after if after[name] != before[name]] == ["r_0003.exr"]


def test_editing_one_frame_with_temporal_runs_the_chain_and_the_cache_recomputes_from_there(shot, monkeypatch):
    restyle(shot)
    frame = exr.read_frame(shot / "plate_0002.exr")
    frame["beauty"][2:6, 2:6, :3] += 0.5
    exr.write_exr(shot / "plate_0002.exr", frame)
    before = stamps(shot)
    again = restyle(shot)
    assert again.meta[1]["cache"] == "hit" and again.meta[2]["cache"] == "miss"
    assert 1 in again.kept and stamps(shot)["r_0001.exr"] == before["r_0001.exr"]
    assert stamps(shot)["r_0002.exr"] != before["r_0002.exr"]


def test_a_touched_input_is_read_again_but_an_identical_result_is_not_rewritten(shot, monkeypatch):
    restyle(shot, temporal=False)
    before = stamps(shot)
    os.utime(shot / "plate_0002.exr", ns=(1, 1))
    seen = reads(monkeypatch)
    again = restyle(shot, temporal=False)
    assert seen == [2] and again.kept == [2] and again.meta[2]["cache"] == "hit"
    assert stamps(shot) == before


def test_a_deleted_output_or_changed_params_are_redone(shot, monkeypatch):
    restyle(shot, temporal=False)
    (shot / "out/r_0004.exr").unlink()
    seen = reads(monkeypatch)
    again = restyle(shot, temporal=False)
    assert seen == [4] and (shot / "out/r_0004.exr").exists() and 4 not in again.up_to_date
    seen.clear()
    changed = restyle(shot, temporal=False, strength=0.3)
    assert seen == [1, 2, 3, 4] and changed.up_to_date == [] and changed.meta[1]["cache"] == "miss"


def test_a_corrupt_manifest_means_a_full_run(shot, monkeypatch):
    restyle(shot, temporal=False)
    for manifest in (shot / "out").glob(".framebridge-run-*.json"):
        manifest.write_text("{not json")
    seen = reads(monkeypatch)
    again = restyle(shot, temporal=False)
    assert seen == [1, 2, 3, 4] and not again.failed and again.kept == [] and sorted(again.written) == [1, 2, 3, 4]
