"""Chain steps: what is carried, what stays trusted, and what is re-anchored to the keyframe."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.server.propagate.chain import Guides, KeyView, start_chain, step_chain

HEIGHT, WIDTH = 24, 32


def _step(motion, *, back_motion=None, depth=None, previous_depth=None, objects=None, key_objects=None):
    rng = np.random.default_rng(1)
    look = rng.random((HEIGHT, WIDTH, 3), dtype=np.float32)
    guides = Guides(motion, back_motion, depth, objects)
    before = Guides(None, back_motion, previous_depth, key_objects)
    return step_chain(start_chain(1, HEIGHT, WIDTH), 2, guides, before, KeyView(key_objects, look), look, motion,
                      back_motion, depth_tolerance=0.05)


def _shift(dx: float, dy: float) -> np.ndarray:
    return np.broadcast_to(np.array([dx, dy], np.float32), (HEIGHT, WIDTH, 2)).copy()


def test_a_still_frame_with_object_ids_keeps_every_pixel_where_it_was():
    objects = np.zeros((HEIGHT, WIDTH), np.float32)
    objects[6:18, 8:20] = 1.0
    still = _shift(0, 0)
    chain = _step(still, back_motion=still, depth=np.ones((HEIGHT, WIDTH), np.float32),
                  previous_depth=np.ones((HEIGHT, WIDTH), np.float32), objects=objects, key_objects=objects)
    np.testing.assert_array_equal(chain.coords, start_chain(1, HEIGHT, WIDTH).coords)
    assert (chain.seen == 1.0).all() and (chain.difference == 0.0).all()


def test_coordinates_follow_the_motion_at_exact_sub_pixel_positions_and_pixels_from_outside_are_not_seen():
    chain = _step(_shift(2.25, -1.125))
    xs, ys = np.meshgrid(np.arange(WIDTH, dtype=np.float32), np.arange(HEIGHT, dtype=np.float32))
    inside = (xs + 2.25 <= WIDTH - 1) & (ys - 1.125 >= 0)
    np.testing.assert_allclose(chain.coords[..., 0][inside], (xs + 2.25)[inside], atol=1e-5)
    np.testing.assert_allclose(chain.coords[..., 1][inside], (ys - 1.125)[inside], atol=1e-5)
    assert (chain.seen[inside] == 1.0).all() and (chain.seen[~inside] == 0.0).all()


def test_motion_that_disagrees_both_ways_is_not_trusted():
    motion = _shift(3.0, 0.0)
    back_motion = _shift(-3.0, 0.0)
    back_motion[:, 10:14] = (3.0, 0.0)  # the chain's frame says these go the other way: an occlusion
    chain = _step(motion, back_motion=back_motion)
    came_from = np.arange(WIDTH) + 3.0
    disagree = (came_from > 9) & (came_from < 14)
    assert (chain.seen[:, disagree[:WIDTH - 3].nonzero()[0]] == 0.0).all()
    assert (chain.seen[:, :5] == 1.0).all()


@pytest.mark.parametrize("changed", [1.2, np.nan])
def test_a_depth_that_changed_or_is_not_a_number_is_not_trusted(changed):
    depth, previous = np.ones((HEIGHT, WIDTH), np.float32), np.ones((HEIGHT, WIDTH), np.float32)
    depth[5:9, 5:9] = changed
    depth[12, 12] = 1.04  # within the tolerance of 5%
    chain = _step(_shift(0, 0), depth=depth, previous_depth=previous)
    assert (chain.seen[5:9, 5:9] == 0.0).all()
    assert chain.seen[12, 12] == 1.0 and (chain.seen == 0.0).sum() == 16


def test_a_hidden_part_of_an_object_is_re_anchored_with_its_object_s_motion_and_trusted_again_where_it_looks_the_same():
    # The keyframe saw an object 4 px to the right of where it is now; the chain's frame hid a stripe of it.
    key_objects = np.zeros((HEIGHT, WIDTH), np.float32)
    key_objects[4:20, 12:28] = 1.0
    objects = np.roll(key_objects, -4, axis=1)
    motion = _shift(0, 0)
    motion[objects == 1.0] = (4.0, 0.0)
    look = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    look[key_objects == 1.0] = 0.5
    render_look = np.roll(look, -4, axis=1)
    start = start_chain(1, HEIGHT, WIDTH)
    coords, seen = start.coords.copy(), start.seen.copy()
    coords[:, 14:18], seen[:, 14:18] = 0.0, 0.0  # lost on the way (an occluder crossed this stripe), its place forgotten
    chain = step_chain(type(start)(1, 1, coords, seen, start.difference), 2, Guides(motion, None, None, objects),
                       Guides(None, None, None, key_objects), KeyView(key_objects, look), render_look, motion, None,
                       depth_tolerance=0.05)
    stripe = (slice(6, 18), slice(11, 13))  # now at x 10..13 of this frame, came from the lost stripe 14..17
    np.testing.assert_allclose(chain.coords[stripe][..., 0], np.arange(11, 13) + 4.0 + np.zeros((12, 2)), atol=0.05)
    assert (chain.seen[stripe] == 1.0).all()


@pytest.mark.parametrize("shape", [(135, 240), (67, 120), (5, 7), (3, 9)])
def test_each_coarser_level_of_the_push_pull_is_the_area_mean_of_the_one_below(shape):
    import cv2

    from framebridge.server.propagate.chain import _halved, _overlaps

    level = np.random.default_rng(2).random(shape + (3,), dtype=np.float32)
    small = (max(1, shape[0] // 2), max(1, shape[1] // 2))
    expected = cv2.resize(level, small[::-1], interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(_halved(level, *_overlaps(shape[0], small[0]), *_overlaps(shape[1], small[1])), expected,
                               atol=1e-6)


def test_blocks_without_traced_pixels_take_the_displacement_around_them():
    from framebridge.server.propagate.chain import _push_pull

    rows, columns = np.mgrid[0:40, 0:60].astype(np.float32)
    counts = np.full((40, 60), 16.0, np.float32)
    counts[10:30, 20:45] = 0.0  # a hole in the middle
    field = np.dstack([0.5 * columns + 2.0, np.full_like(rows, -3.0)])  # smooth: a slope across, constant down
    sums = field * counts[..., None]
    _push_pull(sums, counts, np.full((40, 60), 16.0, np.float32))
    traced = counts > 0
    np.testing.assert_allclose(sums[traced], field[traced], rtol=1e-6)  # fully traced blocks keep their own mean
    np.testing.assert_allclose(sums[..., 1], -3.0, rtol=1e-6)  # a constant is carried in exactly
    inside = sums[10:30, 20:45, 0]
    assert field[10:30, 19, 0].min() - 1e-3 <= inside.min() and inside.max() <= field[10:30, 45, 0].max() + 1e-3
    assert (np.diff(inside, axis=1) >= -1e-4).all()  # the slope carries on across the hole, never backwards
