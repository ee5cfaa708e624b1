"""Which passes a capture needs and how the user's settings come back, without Blender."""

import pytest

from framebridge.blender_addon.passes import Snapshot, capture_settings, needed_passes
from framebridge.protocol.errors import InvalidParams


def test_each_condition_turns_on_its_pass():
    assert needed_passes(["depth", "normal", "segmentation", "pose", "canny"], temporal=True) == [
        "use_pass_combined", "use_pass_z", "use_pass_normal", "use_pass_object_index", "use_pass_vector"]
    assert needed_passes(["canny"], temporal=False) == ["use_pass_combined"]


def test_unknown_condition_names_the_allowed_ones():
    with pytest.raises(InvalidParams, match="unknown condition 'edges'"):
        needed_passes(["edges"], temporal=False)


def test_capture_output_is_float_multilayer_exr_with_media_type_first():
    settings = capture_settings(["depth"], temporal=True, has_media_type=True)
    keys = list(settings)
    assert keys.index("image_settings.media_type") < keys.index("image_settings.file_format")
    assert settings["render.use_motion_blur"] is False
    assert settings["render.use_compositing"] is False and settings["render.use_sequencer"] is False
    assert settings["image_settings.color_depth"] == "32"
    assert "image_settings.media_type" not in capture_settings(["depth"], temporal=False, has_media_type=False)


def test_snapshot_restores_the_users_values_in_apply_order():
    user = {"view_layer.use_pass_z": False, "image_settings.media_type": "IMAGE", "image_settings.file_format": "PNG"}
    snapshot = Snapshot.take(list(user), user.__getitem__)
    wanted = {"view_layer.use_pass_z": True, "image_settings.media_type": "MULTI_LAYER_IMAGE",
              "image_settings.file_format": "OPEN_EXR_MULTILAYER"}
    assert snapshot.changes(wanted) == wanted
    assert snapshot.restore_order() == list(user.items())
    assert snapshot.changes({"view_layer.use_pass_z": False}) == {}
