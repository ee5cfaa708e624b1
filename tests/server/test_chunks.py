"""The chunk planner: ownership, warm-up, fades, tails and breaks."""

import numpy as np
import pytest

from framebridge.server.chunks import ChunkRule, cross_fade, fade_weight, plan_chunks


def owned(chunks):
    return [number for chunk in chunks for number in chunk.frames]


def test_independent_frames_split_evenly_and_every_frame_is_owned_once():
    frames = list(range(1001, 1041))
    chunks = plan_chunks(frames, 3)
    assert owned(chunks) == frames
    assert [len(chunk.frames) for chunk in chunks] == [13, 14, 13]
    assert all(chunk.run == chunk.frames and chunk.returned == chunk.frames for chunk in chunks)


def test_later_chunks_warm_up_on_the_frames_before_them_and_fade_over_the_last_of_those():
    chunks = plan_chunks(list(range(1, 25)), 2, ChunkRule(warmup=4, fade=2))
    first, second = chunks
    assert first.lead == () and first.frames == tuple(range(1, 13))
    assert second.lead == (9, 10, 11, 12) and second.fade == (11, 12)
    assert second.run == tuple(range(9, 25)) and second.returned == tuple(range(11, 25))
    assert [fade_weight(second, number) for number in second.fade] == pytest.approx([1 / 3, 2 / 3])


def test_a_short_job_is_not_split_below_the_warm_up():
    assert len(plan_chunks(list(range(10)), 4, ChunkRule(warmup=4))) == 2
    assert len(plan_chunks(list(range(3)), 4, ChunkRule(warmup=4))) == 1


def test_boundaries_snap_to_breaks_where_no_warm_up_is_needed():
    frames = list(range(1, 49))
    chunks = plan_chunks(frames, 2, ChunkRule(warmup=5, tail=1, breaks=(1, 20, 48)))
    assert owned(chunks) == frames
    assert chunks[1].frames[0] == 20 and chunks[1].lead == ()
    assert chunks[0].tail == (20,) and chunks[1].tail == ()


def test_submit_order_is_kept_for_sparse_frame_lists():
    frames = [5, 1, 9, 3]
    assert owned(plan_chunks(frames, 2)) == frames


def test_bad_rules_are_refused():
    with pytest.raises(ValueError):
        ChunkRule(warmup=2, fade=3)
    with pytest.raises(ValueError):
        plan_chunks([1, 2], 0)


def test_cross_fade_blends_floats_and_keeps_integer_buffers():
    previous, current = np.zeros((2, 2, 3), np.float32), np.ones((2, 2, 3), np.float32)
    assert np.allclose(cross_fade(previous, current, 0.25), 0.25)
    ids = np.zeros((2, 2), np.uint16)
    assert cross_fade(ids, ids + 3, 0.5) is ids


def test_with_breaks_no_boundary_falls_between_them():
    frames = list(range(1, 31))
    assert len(plan_chunks(frames, 3, ChunkRule(tail=1, breaks=(1,)))) == 1
    chunks = plan_chunks(frames, 3, ChunkRule(tail=1, breaks=(1, 25)))
    assert [chunk.frames[0] for chunk in chunks] == [1, 25] and chunks[0].tail == (25,)


def test_a_whole_shot_rule_keeps_the_job_in_one_chunk():
    chunks = plan_chunks(list(range(1, 41)), 4, ChunkRule(whole=True))
    assert len(chunks) == 1 and chunks[0].run == tuple(range(1, 41))
