"""Thin-plate warps on a coarse grid, the STMap convention, and mattes that leave the outside untouched."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.server.faces.mask import ring, soft_matte
from framebridge.server.faces.warp import identity_stmap, thin_plate_warp

SHAPE = (120, 160)


def _frame() -> list[np.ndarray]:
    return [np.array(p, np.float32) for p in ([20, 20], [140, 20], [140, 100], [20, 100])]


def test_the_map_sends_each_target_point_back_to_its_source_point():
    source = np.array([*_frame(), [80.0, 60.0]], np.float32)
    target = source.copy()
    target[4] = (86.0, 64.0)
    warp = thin_plate_warp(source, target, SHAPE, grid_step=4)
    offset = warp.displacement_at(target[4:5])[0]
    assert offset == pytest.approx(source[4] - target[4], abs=0.1)
    assert np.abs(warp.displacement_at(source[:4])).max() < 0.05


def test_a_warp_moves_a_bright_dot_to_its_target():
    image = np.zeros(SHAPE + (3,), np.float32)
    image[58:63, 78:83] = 1.0
    source = np.array([*_frame(), [80.0, 60.0]], np.float32)
    target = source.copy()
    target[4] = (90.0, 52.0)
    moved = thin_plate_warp(source, target, SHAPE, grid_step=4).apply(image)
    ys, xs = np.nonzero(moved[..., 0] > 0.5)
    assert (xs.mean(), ys.mean()) == pytest.approx((90.0, 52.0), abs=0.6)


def test_no_displacement_is_the_identity_and_its_stmap_is_nukes_identity():
    points = np.array(_frame(), np.float32)
    warp = thin_plate_warp(points, points, SHAPE, roi=(10, 10, 150, 110))
    stmap = warp.stmap()
    np.testing.assert_allclose(stmap, identity_stmap(SHAPE), atol=1e-5)
    height, width = SHAPE
    # Nuke's STMap: the bottom-left pixel's centre is (0.5/W, 0.5/H), the top-left one's (0.5/W, 1 - 0.5/H).
    assert stmap[height - 1, 0] == pytest.approx([0.5 / width, 0.5 / height])
    assert stmap[0, 0] == pytest.approx([0.5 / width, 1 - 0.5 / height])


def test_a_matte_is_exactly_zero_past_twice_the_feather_and_one_inside():
    hull = np.array([[60, 40], [100, 40], [100, 80], [60, 80]], np.float32)
    matte = soft_matte(hull, SHAPE, feather=6.0)
    assert matte[60, 80] == 1.0 and matte[42, 62] == 1.0
    far = np.ones(SHAPE, bool)
    far[40 - 13:80 + 14, 60 - 13:100 + 14] = False
    assert not matte[far].any()
    assert 0.0 < matte[60, 100 + 9] < 1.0


def test_the_still_ring_lies_outside_the_grown_hull():
    hull = np.array([[60, 40], [100, 40], [100, 80], [60, 80]], np.float32)
    points = ring(hull, 10.0)
    inside = (points[:, 0] > 55) & (points[:, 0] < 105) & (points[:, 1] > 35) & (points[:, 1] < 85)
    assert not inside.any()
