"""Scene-linear <-> display: the built-in sRGB curve and OpenColorIO configs (Blender's, ACES)."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.protocol.errors import InvalidParams
from framebridge.server.colour import (
    OcioTransform,
    SrgbTransform,
    blender_config,
    display_to_linear,
    display_transform,
    linear_to_display,
    unpremultiply,
)

RNG = np.random.default_rng(11)
COLOURS = RNG.random((64, 48, 4), dtype=np.float32)
ACES = "ocio://studio-config-latest"


@pytest.fixture(scope="module")
def blender_ocio():
    config = blender_config()
    assert config is not None and config.is_file(), "bpy ships datafiles/colormanagement/config.ocio"
    return config


def test_builtin_curve_round_trips_and_keeps_its_function_interface():
    rgb = COLOURS[..., :3]
    assert np.abs(display_to_linear(linear_to_display(rgb)) - rgb).max() < 1e-5
    assert linear_to_display(np.array([0.0, 0.0031308, 0.18, 1.0, 2.0])).tolist() == pytest.approx([0.0, 0.04045, 0.46135, 1.0, 1.0], abs=1e-4)


def test_builtin_transform_leaves_alpha_untouched():
    transform = display_transform()
    assert isinstance(transform, SrgbTransform)
    out = transform.linear_to_display(COLOURS)
    assert np.array_equal(out[..., 3], COLOURS[..., 3])
    assert np.abs(transform.display_to_linear(out) - COLOURS).max() < 1e-5


def test_blender_standard_view_matches_the_builtin_curve_and_inverts(blender_ocio):
    transform = OcioTransform(blender_ocio, display="sRGB", view="Standard")
    assert transform.scene_linear == "Linear Rec.709"
    shown = transform.linear_to_display(COLOURS)
    assert np.abs(shown[..., :3] - linear_to_display(COLOURS[..., :3])).max() < 2e-5
    assert np.abs(transform.display_to_linear(shown) - COLOURS).max() < 5e-5
    assert np.abs(transform.linear_to_display(transform.display_to_linear(COLOURS)) - COLOURS).max() < 2e-5
    assert np.array_equal(shown[..., 3], COLOURS[..., 3])


def test_aces_display_round_trip_is_exact_for_displayable_colours():
    transform = OcioTransform(ACES, display="sRGB - Display", view="Un-tone-mapped")
    assert transform.scene_linear == "ACEScg"
    assert np.abs(transform.linear_to_display(transform.display_to_linear(COLOURS)) - COLOURS).max() < 2e-5


def test_tone_mapping_views_are_measurably_not_invertible(blender_ocio):
    transform = OcioTransform(blender_ocio, display="sRGB", view="AgX")
    error = np.abs(transform.linear_to_display(transform.display_to_linear(COLOURS)) - COLOURS)[..., :3].max()
    assert 0.01 < error < 0.3


def test_bad_ocio_choices_are_typed_errors(blender_ocio, tmp_path):
    with pytest.raises(InvalidParams, match="display"):
        OcioTransform(blender_ocio, display="Cinema 9000")
    with pytest.raises(InvalidParams, match="view"):
        OcioTransform(blender_ocio, display="sRGB", view="Nope")
    with pytest.raises(InvalidParams, match="config"):
        OcioTransform(tmp_path / "missing.ocio")
    with pytest.raises(InvalidParams, match="needs an OCIO config"):
        display_transform(view="AgX")


def test_unpremultiply_divides_by_alpha_and_zeroes_fully_transparent_pixels():
    image = np.array([[[0.2, 0.4, 0.1, 0.5], [0.3, 0.3, 0.3, 0.0]]], np.float32)
    np.testing.assert_allclose(unpremultiply(image), [[[0.4, 0.8, 0.2], [0.0, 0.0, 0.0]]])
    rgb = image[..., :3]
    assert np.shares_memory(unpremultiply(rgb), rgb)  # no alpha: the colour as it is, not a copy
