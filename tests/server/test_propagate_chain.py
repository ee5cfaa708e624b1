"""Chain steps: a still frame loses nothing, and point sampling matches remapping the whole image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from framebridge.server.propagate.chain import Guides, KeyView, _sample_points, start_chain, step_chain


def test_a_still_frame_with_object_ids_keeps_every_pixel_where_it_was():
    height, width = 24, 32
    rng = np.random.default_rng(1)
    objects = np.zeros((height, width), np.float32)
    objects[6:18, 8:20] = 1.0
    look = rng.random((height, width, 3), dtype=np.float32)
    still = np.zeros((height, width, 2), np.float32)
    guides = Guides(still, still, np.ones((height, width), np.float32), objects)
    chain = step_chain(start_chain(1, height, width), 2, guides, guides, KeyView(objects, look), look, still, still,
                       depth_tolerance=0.05)
    np.testing.assert_array_equal(chain.coords, start_chain(1, height, width).coords)
    assert (chain.seen == 1.0).all() and (chain.difference == 0.0).all()


@pytest.mark.parametrize("interpolation, outside", [(cv2.INTER_LINEAR, None), (cv2.INTER_NEAREST, -1.0)])
def test_points_are_sampled_as_a_whole_frame_remap_samples_them(interpolation, outside):
    rng = np.random.default_rng(8)
    image = rng.random((30, 50, 2), dtype=np.float32)
    where = rng.uniform(-3, 53, (30, 50, 2)).astype(np.float32)  # some outside the image; more points than one row of the layout
    border = dict(borderMode=cv2.BORDER_REPLICATE) if outside is None else dict(borderMode=cv2.BORDER_CONSTANT, borderValue=outside)
    whole = cv2.remap(image, where, None, interpolation, **border).reshape(-1, 2)
    chosen = np.flatnonzero(rng.random(30 * 50) < 0.8)
    np.testing.assert_array_equal(_sample_points(image, where.reshape(-1, 2)[chosen], interpolation, outside), whole[chosen])
