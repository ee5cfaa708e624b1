"""Chain helpers: sampling a list of points as remapping the whole image would."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from framebridge.server.propagate.chain import _sample_points


@pytest.mark.parametrize("interpolation, outside", [(cv2.INTER_LINEAR, None), (cv2.INTER_NEAREST, -1.0)])
def test_points_are_sampled_as_a_whole_frame_remap_samples_them(interpolation, outside):
    rng = np.random.default_rng(8)
    image = rng.random((30, 50, 2), dtype=np.float32)
    where = rng.uniform(-3, 53, (30, 50, 2)).astype(np.float32)  # some outside the image; more points than one row of the layout
    border = dict(borderMode=cv2.BORDER_REPLICATE) if outside is None else dict(borderMode=cv2.BORDER_CONSTANT, borderValue=outside)
    whole = cv2.remap(image, where, None, interpolation, **border).reshape(-1, 2)
    chosen = np.flatnonzero(rng.random(30 * 50) < 0.8)
    np.testing.assert_array_equal(_sample_points(image, where.reshape(-1, 2)[chosen], interpolation, outside), whole[chosen])
