"""Host channel names map onto the canonical pass buffers."""

from framebridge.protocol import passes
from framebridge.protocol.channels import CRYPTOMATTE, find_buffers, split_channel

BLENDER_5 = [
    "ViewLayer.Combined.R", "ViewLayer.Combined.G", "ViewLayer.Combined.B", "ViewLayer.Combined.A",
    "ViewLayer.Depth.Z",
    "ViewLayer.Normal.X", "ViewLayer.Normal.Y", "ViewLayer.Normal.Z",
    "ViewLayer.Vector.X", "ViewLayer.Vector.Y", "ViewLayer.Vector.Z", "ViewLayer.Vector.W",
    "ViewLayer.Object Index.X", "ViewLayer.Material Index.X",
]


def test_split_channel_keeps_spaces_in_pass_names():
    assert split_channel("ViewLayer.Object Index.X") == ("ViewLayer", "Object Index", "X")
    assert split_channel("depth.Z") == ("", "depth", "Z")
    assert split_channel("R") == ("", "", "R")


def test_blender_multilayer_names_fill_every_pass():
    found = find_buffers(BLENDER_5)
    assert found[passes.BEAUTY].channels == ("ViewLayer.Combined.R", "ViewLayer.Combined.G", "ViewLayer.Combined.B", "ViewLayer.Combined.A")
    assert found[passes.DEPTH].channels == ("ViewLayer.Depth.Z",)
    assert found[passes.NORMAL].channels == ("ViewLayer.Normal.X", "ViewLayer.Normal.Y", "ViewLayer.Normal.Z")
    assert found[passes.OBJECT_INDEX].channels == ("ViewLayer.Object Index.X",)
    assert found[passes.MATERIAL_INDEX].channels == ("ViewLayer.Material Index.X",)


def test_blender_vector_pass_splits_into_backward_and_forward_with_y_flipped():
    found = find_buffers(BLENDER_5)
    assert found[passes.MOTION_BACKWARD].channels == ("ViewLayer.Vector.X", "ViewLayer.Vector.Y")
    assert found[passes.MOTION_BACKWARD].signs == (1.0, -1.0)
    assert found[passes.MOTION_FORWARD].channels == ("ViewLayer.Vector.Z", "ViewLayer.Vector.W")
    assert found[passes.MOTION_FORWARD].signs == (-1.0, 1.0)


def test_older_blender_index_names_are_read():
    found = find_buffers(["RenderLayer.IndexOB.X", "RenderLayer.IndexMA.X"])
    assert found[passes.OBJECT_INDEX].channels == ("RenderLayer.IndexOB.X",)
    assert found[passes.MATERIAL_INDEX].channels == ("RenderLayer.IndexMA.X",)


def test_nuke_names_fill_the_same_buffers():
    names = ["R", "G", "B", "A", "depth.Z", "N.x", "N.y", "N.z", "forward.u", "forward.v", "backward.u", "backward.v"]
    found = find_buffers(names)
    assert found[passes.BEAUTY].channels == ("R", "G", "B", "A")
    assert found[passes.DEPTH].channels == ("depth.Z",)
    assert found[passes.NORMAL].channels == ("N.x", "N.y", "N.z")
    assert found[passes.MOTION_FORWARD].channels == ("forward.u", "forward.v")
    assert found[passes.MOTION_FORWARD].signs == (1.0, -1.0)
    assert found[passes.MOTION_BACKWARD].channels == ("backward.u", "backward.v")


def test_nuke_layer_spellings_of_normals_and_rgba():
    assert find_buffers(["normals.red", "normals.green", "normals.blue"])[passes.NORMAL].channels == ("normals.red", "normals.green", "normals.blue")
    assert find_buffers(["rgba.red", "rgba.green", "rgba.blue"])[passes.BEAUTY].channels == ("rgba.red", "rgba.green", "rgba.blue")


def test_cryptomatte_rank_zero_fills_index_buffers():
    found = find_buffers([f"ViewLayer.CryptoObject00.{c}" for c in "RGBA"] + [f"ViewLayer.CryptoMaterial00.{c}" for c in "RGBA"])
    assert found[passes.OBJECT_INDEX].channels == ("ViewLayer.CryptoObject00.R",)
    assert found[passes.OBJECT_INDEX].decode == CRYPTOMATTE
    assert found[passes.MATERIAL_INDEX].channels == ("ViewLayer.CryptoMaterial00.R",)


def test_incomplete_and_unknown_layers_fill_nothing():
    assert find_buffers(["ViewLayer.Normal.X", "ViewLayer.Normal.Y", "ViewLayer.Emit.R", "ViewLayer.Emit.G", "ViewLayer.Emit.B"]) == {}


def test_first_view_layer_in_file_order_wins():
    found = find_buffers(["Left.Depth.Z", "Right.Depth.Z"])
    assert found[passes.DEPTH].channels == ("Left.Depth.Z",)


def test_alpha_is_optional_for_beauty():
    assert find_buffers(["R", "G", "B"])[passes.BEAUTY].channels == ("R", "G", "B")
