"""Keyframe images to job-level buffers, without Blender: orientation, colour, size and frame checks."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.blender_addon.keyframes import Keyframe, keyframe_buffers, keyframe_pixels
from framebridge.protocol.errors import InvalidParams, ShapeMismatch


def image(frame=1, width=4, height=2, value=0.5, is_float=True, colour_space="Linear Rec.709", channels=4):
    pixels = np.full((height, width, channels), value, np.float32)
    pixels[0] = 0.0  # Blender's first row is the bottom one
    return Keyframe(frame, f"Key {frame}", pixels.ravel(), (width, height), channels, is_float, colour_space)


def test_rows_come_top_to_bottom_and_alpha_is_dropped():
    pixels = keyframe_pixels(image(), (4, 2))
    assert pixels.shape == (2, 4, 3) and (pixels[1] == 0).all() and (pixels[0] == 0.5).all()


def test_byte_images_in_srgb_are_decoded_to_linear_and_float_images_are_kept():
    assert keyframe_pixels(image(is_float=False, colour_space="sRGB"), (4, 2))[0, 0, 0] == pytest.approx(0.2140, abs=1e-4)
    assert keyframe_pixels(image(is_float=False, colour_space="Non-Color"), (4, 2))[0, 0, 0] == 0.5
    assert keyframe_pixels(image(is_float=True, colour_space="sRGB"), (4, 2))[0, 0, 0] == 0.5


def test_a_keyframe_of_another_size_is_named():
    with pytest.raises(ShapeMismatch, match="Key 1.*4x2.*8x8"):
        keyframe_pixels(image(), (8, 8))


def test_frames_outside_the_shot_twice_or_none_are_refused():
    assert sorted(keyframe_buffers([image(1), image(3)], [1, 2, 3], (4, 2))) == ["keyframe_1", "keyframe_3"]
    with pytest.raises(InvalidParams, match="outside"):
        keyframe_buffers([image(9)], [1, 2, 3], (4, 2))
    with pytest.raises(InvalidParams, match="two keyframe images"):
        keyframe_buffers([image(1), image(1)], [1, 2, 3], (4, 2))
    with pytest.raises(InvalidParams, match="at least one"):
        keyframe_buffers([], [1, 2, 3], (4, 2))
