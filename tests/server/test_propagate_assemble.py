"""A propagated frame's assembly: keyframes sampled where the chains say, blended as cv2.blendLinear would, trust scaled up
as cv2.resize would."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from framebridge.server.propagate.assemble import HOLE, Side, assemble, blend_fill

HEIGHT, WIDTH = 36, 50  # the working size is not an exact fraction of it


def _sides(count: int, rng: np.random.Generator) -> list[Side]:
    small = (13, 19)
    sides = []
    for span, weight, decay in [(4.0, 1.0, 0.8), (1.0, 4.0, 0.95)][:count]:
        # Where each working-size pixel takes its look from, in keyframe pixels: a shift and a swirl, some outside.
        ys, xs = np.mgrid[0:small[0], 0:small[1]].astype(np.float32)
        coords = np.dstack([xs * WIDTH / small[1] + rng.uniform(-6, 6) + 3 * np.sin(ys), ys * HEIGHT / small[0] + rng.uniform(-4, 4)])
        trust = rng.random(small, dtype=np.float32) ** 3
        trust[:, 6 * len(sides):6 * len(sides) + 6] = 0.0  # each side blind somewhere: there the other one alone
        sides.append(Side(rng.random((HEIGHT, WIDTH, 3), dtype=np.float32), coords.astype(np.float32), trust, span, weight,
                          decay))
    return sides


def _bilinear(image: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``image`` at the (H, W, 2) x, y ``where``, bilinearly, edge pixels repeated beyond the image (in float64)."""
    height, width = image.shape[:2]
    x = np.clip(where[..., 0].astype(np.float64), 0, width - 1)
    y = np.clip(where[..., 1].astype(np.float64), 0, height - 1)
    left, top = np.floor(x).astype(int), np.floor(y).astype(int)
    right, bottom = np.minimum(left + 1, width - 1), np.minimum(top + 1, height - 1)
    across, down = (x - left)[..., None], (y - top)[..., None]
    upper = image[top, left] * (1 - across) + image[top, right] * across
    lower = image[bottom, left] * (1 - across) + image[bottom, right] * across
    return (upper * (1 - down) + lower * down).astype(np.float32)


def _expected(render: np.ndarray, sides: list[Side]):
    seen = [cv2.resize(side.trust, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR) for side in sides]
    looks = []
    for side in sides:
        scale = np.array([WIDTH / side.trust.shape[1], HEIGHT / side.trust.shape[0]], np.float32)
        where = cv2.resize(side.coords * scale + (scale - 1) / 2, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
        looks.append(_bilinear(side.look, where))
    coverage = np.minimum(sum(seen), 1.0) if seen else np.zeros((HEIGHT, WIDTH), np.float32)
    trust = np.max([s * side.decay for s, side in zip(seen, sides)], axis=0) if seen else np.zeros_like(coverage)
    distance = np.full((HEIGHT, WIDTH), -1.0, np.float32)
    for s, side in zip(seen, sides):
        distance[s > 0.5] = side.span
    if len(sides) == 2:
        look = cv2.blendLinear(looks[0], looks[1], seen[0] * sides[0].weight, seen[1] * sides[1].weight)
    else:
        look = looks[0] if sides else np.zeros((HEIGHT, WIDTH, 3), np.float32)
    return look, np.dstack([trust, distance, 1.0 - coverage]), coverage < HOLE


@pytest.mark.parametrize("count", [0, 1, 2])
@pytest.mark.parametrize("channels", [3, 4])
def test_the_frame_is_the_blend_of_its_sides_with_the_render_s_alpha_and_its_confidence(count, channels):
    rng = np.random.default_rng(count * 10 + channels)
    render = rng.random((HEIGHT, WIDTH, channels), dtype=np.float32)
    sides = _sides(count, rng)
    beauty, confidence, holes = assemble(render, sides)
    look, expected_confidence, expected_holes = _expected(render, sides)
    np.testing.assert_allclose(beauty[..., :3], look, atol=1e-4)
    if channels == 4:
        np.testing.assert_array_equal(beauty[..., 3], render[..., 3])
    near_threshold = np.isclose(expected_confidence[..., 2], 1.0 - HOLE, atol=1e-5)
    np.testing.assert_allclose(confidence, expected_confidence, atol=2e-5)
    np.testing.assert_array_equal(holes[~near_threshold], expected_holes[~near_threshold])
    assert beauty.shape == (HEIGHT, WIDTH, channels) and confidence.dtype == np.float32


@pytest.mark.parametrize("channels", [3, 4])
def test_the_fill_is_mixed_in_by_what_the_keyframes_left_uncovered(channels):
    rng = np.random.default_rng(5)
    beauty = rng.random((HEIGHT, WIDTH, channels), dtype=np.float32)
    confidence = rng.random((HEIGHT, WIDTH, 3), dtype=np.float32)
    pixels = np.sort(rng.choice(HEIGHT * WIDTH, 300, replace=False))
    filled = rng.random((len(pixels), 3), dtype=np.float32)
    expected = beauty.copy().reshape(-1, channels)
    covered = 1.0 - confidence.reshape(-1, 3)[pixels, 2:]
    expected[pixels, :3] = expected[pixels, :3] * covered + filled * (1.0 - covered)
    blend_fill(beauty, confidence, pixels, filled)
    np.testing.assert_array_equal(beauty.reshape(-1, channels), expected)  # the same float32 operations, in order
