"""`framebridge run --chunk K/N` tasks and `framebridge join`: a shot split into farm tasks that run apart."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.chunks import sliding_shot
from framebridge.protocol import exr, passes
from framebridge.protocol.errors import InvalidParams
from framebridge.server.chunked import run_chunked
from framebridge.server.cli import main
from framebridge.server.farm_chunks import parse_chunk
from framebridge.server.ops.base import InputFrame
from framebridge.server.ops.restyle import TEMPORAL_CHUNKS, RestyleOp

FRAMES = list(range(1, 25))


@pytest.fixture
def shot_on_disk(tmp_path):
    folder = tmp_path / "render"
    folder.mkdir()
    frames = sliding_shot(FRAMES)
    for frame in frames:
        exr.write_exr(folder / f"frame_{frame.number:04d}.exr", dict(frame.buffers))
    return folder / "frame_####.exr", {frame.number: exr.read_frame(folder / f"frame_{frame.number:04d}.exr") for frame in frames}


def run(pattern, output, *extra, op="restyle"):
    return main(["run", op, "--input", str(pattern), "--output", str(output), "--param", "cache=false", *extra])


def beauty(folder, number):
    return exr.read_frame(folder / f"frame_{number:04d}.exr")[passes.BEAUTY]


def test_temporal_off_chunk_tasks_write_exactly_the_single_runs_frames(shot_on_disk, tmp_path, capsys):
    pattern, _ = shot_on_disk
    assert run(pattern, tmp_path / "one" / "frame_####.exr", "--param", "temporal=false") == 0
    for index in (1, 2, 3):
        assert run(pattern, tmp_path / "farm" / "frame_####.exr", "--param", "temporal=false", "--chunk", f"{index}/3") == 0
    assert "chunk 3 of 3 owns frames 17-24; ran 0 warm-up" in capsys.readouterr().out
    assert main(["join", "--output", str(tmp_path / "farm" / "frame_####.exr")]) == 0
    for number in FRAMES:
        np.testing.assert_array_equal(beauty(tmp_path / "farm", number), beauty(tmp_path / "one", number))


def test_temporal_chunk_tasks_joined_equal_the_pools_cross_faded_chunks(shot_on_disk, tmp_path, capsys):
    pattern, shot = shot_on_disk
    output = tmp_path / "farm" / "frame_####.exr"
    for index in (2, 1, 3):  # the order tasks finish on a farm does not matter
        assert run(pattern, output, "--chunk", f"{index}/3") == 0
    out = capsys.readouterr().out
    assert f"ran {TEMPORAL_CHUNKS.warmup} warm-up" in out and "overlap frames for `framebridge join`" in out
    warm_only = {number: beauty(tmp_path / "farm", number) for number in FRAMES}
    assert main(["join", "--output", str(output)]) == 0
    assert main(["join", "--output", str(output)]) == 0  # joining again changes nothing
    op = RestyleOp(cache_dir=tmp_path / "cache")
    plan = op.prepare({"cache": False}, {}, FRAMES, "cpu")
    pool = run_chunked(op, plan, [InputFrame(number, shot[number]) for number in FRAMES], 3)
    faded = [number for number in FRAMES if not np.array_equal(warm_only[number], beauty(tmp_path / "farm", number))]
    assert len(faded) == 2 * TEMPORAL_CHUNKS.fade
    for number in FRAMES:
        np.testing.assert_array_equal(beauty(tmp_path / "farm", number), pool[number].buffers[passes.BEAUTY])


def test_a_chunk_beyond_what_the_rule_makes_has_nothing_to_do(shot_on_disk, tmp_path, capsys):
    pattern, _ = shot_on_disk
    assert run(pattern, tmp_path / "farm" / "frame_####.exr", "--frames", "1-10", "--chunk", "3/3") == 0
    assert "nothing to do" in capsys.readouterr().out
    assert not list((tmp_path / "farm").glob("frame_*.exr"))


def test_propagate_chunk_tasks_cut_at_keyframes_and_match_one_run(shot_on_disk, tmp_path):
    pattern, shot = shot_on_disk
    paint = tmp_path / "paint"
    paint.mkdir()
    for key in (1, 9, 17, 24):
        exr.write_exr(paint / f"frame_{key:04d}.exr", {passes.BEAUTY: shot[key][passes.BEAUTY][..., ::-1].copy()})
    keys = ["--keyframes", str(paint / "frame_####.exr")]
    assert run(pattern, tmp_path / "one" / "frame_####.exr", *keys, op="propagate") == 0
    for index in (1, 2, 3):
        assert run(pattern, tmp_path / "farm" / "frame_####.exr", *keys, "--chunk", f"{index}/3", op="propagate") == 0
    for number in FRAMES:
        np.testing.assert_array_equal(beauty(tmp_path / "farm", number), beauty(tmp_path / "one", number))


@pytest.mark.parametrize("text", ["3", "0/2", "3/2", "a/b", "1/0"])
def test_a_chunk_that_is_not_k_of_n_is_refused(text):
    with pytest.raises(InvalidParams, match="K/N"):
        parse_chunk(text)


def test_lipsync_refuses_chunks_by_name(capsys):
    assert main(["run", "lipsync", "--audio", "line.wav", "--fps", "24", "--cues", "x.json", "--chunk", "1/2"]) == 2
    assert "never split" in capsys.readouterr().err


def test_chunks_run_in_process_not_on_a_server(shot_on_disk, tmp_path, capsys):
    pattern, _ = shot_on_disk
    code = run(pattern, tmp_path / "farm" / "frame_####.exr", "--chunk", "1/2", "--connection-file", str(tmp_path / "c.json"))
    assert code == 2 and "in-process" in capsys.readouterr().err
