"""The guided fill's parts: exact patch search, and hole-only sampling that matches whole-frame resampling."""

from __future__ import annotations

import cv2
import numpy as np

from framebridge.server.propagate.synthesis import FEATURES, MATCH_DISTANCE, Holes, _ObjectModel, _shade, match_size


def test_residual_search_finds_the_nearest_keyframe_patch_exactly():
    rng = np.random.default_rng(3)
    colours, looks = rng.random((2000, 3), dtype=np.float32), rng.random((2000, 3), dtype=np.float32)
    features = rng.random((2000, FEATURES), dtype=np.float32) * 0.05
    model = _ObjectModel(colours, looks, features)
    queries = features[rng.integers(0, 2000, 700)] + rng.normal(0, 0.002, (700, FEATURES)).astype(np.float32)
    got = model.residual(queries)
    distances = ((queries[:, None, :] - features[None, :, :]) ** 2).sum(axis=2)
    nearest = distances.argmin(axis=1)
    residuals = looks - model.colour(colours)
    fade = np.clip(1.0 - np.sqrt(distances[np.arange(700), nearest]) / MATCH_DISTANCE, 0.0, 1.0)[:, None]
    np.testing.assert_allclose(got, residuals[nearest] * fade, atol=1e-4)


def test_a_filled_look_is_the_affine_colour_plus_the_residual_within_the_keyframe_colours():
    rng = np.random.default_rng(4)
    guide, residual = rng.random((500, 3), dtype=np.float32), rng.normal(0, 0.2, (500, 3)).astype(np.float32)
    affine = rng.normal(0, 1, (4, 3)).astype(np.float32)
    low, high = np.array([0.1, 0.0, 0.2], np.float32), np.array([0.6, 0.9, 0.5], np.float32)
    out = np.empty((500, 3), np.float32)
    _shade(guide, residual, affine, low, high, out)
    expected = np.clip(guide @ affine[:3] + affine[3] + residual, low, high)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert (out == low).any() and (out == high).any()


def test_holes_sample_the_matching_size_as_resizing_the_whole_frame_would():
    height, width = 720, 1280
    rng = np.random.default_rng(5)
    mask = np.zeros((height, width), bool)
    mask[100:180, 40:300] = True
    mask[600:700, 1000:1270] = True
    mask[::97, ::89] = True
    render = rng.random((height, width, 4), dtype=np.float32)
    holes = Holes(mask, render, cv2.resize(render[..., :3], (640, 360), interpolation=cv2.INTER_AREA), None, None)
    small_size = match_size(height, width)
    small = cv2.GaussianBlur(rng.random((small_size[1], small_size[0], 3), dtype=np.float32), (0, 0), 3)
    top, bottom, left, right = holes.small_box
    whole = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR).reshape(-1, 3)[holes.pixels]
    np.testing.assert_allclose(holes.upscale(np.ascontiguousarray(small[top:bottom, left:right])), whole, atol=2e-3)
    np.testing.assert_array_equal(holes.pixels, np.flatnonzero(mask))
    np.testing.assert_allclose(holes.guide, np.sqrt(np.clip(render.reshape(-1, 4)[holes.pixels, :3], 0, 1)))


def test_holes_come_in_one_run_per_object_ascending_within_it():
    height, width = 96, 160
    rng = np.random.default_rng(6)
    objects = np.zeros((height, width), np.float32)
    objects[:, 60:] = 2.0
    objects[30:70, 20:120] = 1.0
    mask = rng.random((height, width)) < 0.3
    render = rng.random((height, width, 4), dtype=np.float32)
    holes = Holes(mask, render, render[..., :3], objects, None)
    np.testing.assert_array_equal(np.sort(holes.pixels), np.flatnonzero(mask))
    assert [object_id for object_id, _, _ in holes.objects] == [0.0, 1.0, 2.0]
    for object_id, run, _ in holes.objects:
        pixels = holes.pixels[run]
        np.testing.assert_array_equal(pixels, np.flatnonzero(mask & (objects == object_id)))
    np.testing.assert_allclose(holes.guide, np.sqrt(np.clip(render.reshape(-1, 4)[holes.pixels, :3], 0, 1)))
