"""Which Nuke layers are written for which op and conditions, and the internal nodes' knob values."""

import pytest

from framebridge.nuke_plugin.core.layers import (
    available_conditions,
    layers_of,
    plan_layers,
    remove_knobs,
    write_knobs,
)
from framebridge.protocol.errors import InvalidParams, MissingInput

RENDER = ["rgba.red", "rgba.green", "rgba.blue", "rgba.alpha", "depth.Z", "N.red", "N.green", "N.blue",
          "forward.u", "forward.v", "backward.u", "backward.v", "CryptoObject00.red", "CryptoObject00.green"]


def test_layers_of_a_node_keep_their_order_and_case():
    assert layers_of(RENDER) == ["rgba", "depth", "N", "forward", "backward", "CryptoObject00"]


def test_restyle_sends_beauty_and_the_motion_and_depth_it_finds():
    plan = plan_layers("restyle", [], True, RENDER)
    assert plan.buffers == ("beauty", "depth", "motion_backward", "motion_forward")
    assert plan.layers == ("rgba", "depth", "backward", "forward")
    assert plan_layers("restyle", [], False, RENDER).layers == ("rgba", "depth")


def test_restyle_adds_the_passes_of_its_conditions_when_present():
    plan = plan_layers("restyle", ["normal", "segmentation"], False, RENDER)
    assert plan.buffers == ("beauty", "depth", "normal", "object_index")
    assert plan.layers == ("rgba", "depth", "N", "CryptoObject00")
    assert plan_layers("restyle", ["normal"], True, ["rgba.red", "rgba.green", "rgba.blue"]).layers == ("rgba",)


def test_restyle_needs_rgba():
    with pytest.raises(MissingInput, match="rgba"):
        plan_layers("restyle", [], True, ["depth.Z"])


def test_extract_writes_each_conditions_layer_once():
    plan = plan_layers("extract", ["depth", "canny", "lineart", "normal"], False, RENDER)
    assert plan.buffers == ("depth", "beauty", "normal")
    assert plan.layers == ("depth", "rgba", "N")
    assert plan_layers("extract", ["normal"], False, ["normals.red", "normals.green", "normals.blue"]).layers == ("normals",)


def test_a_missing_condition_layer_is_named_with_a_fix():
    with pytest.raises(MissingInput, match=r"depth condition needs one of the layers \['depth'\]") as caught:
        plan_layers("extract", ["depth"], False, ["rgba.red", "rgba.green", "rgba.blue"])
    assert "Shuffle or Copy" in caught.value.fix


def test_pose_and_unknown_conditions_are_refused():
    with pytest.raises(InvalidParams, match="armature joints"):
        plan_layers("extract", ["pose"], False, RENDER)
    with pytest.raises(InvalidParams, match="unknown conditions"):
        plan_layers("restyle", ["edges"], False, RENDER)


def test_echo_sends_every_known_layer():
    assert plan_layers("echo", [], False, RENDER).buffers == (
        "beauty", "depth", "normal", "motion_forward", "motion_backward", "object_index")
    with pytest.raises(MissingInput, match="no layer"):
        plan_layers("echo", [], False, ["mask.a"])


def test_available_conditions_follow_the_layers():
    assert available_conditions(RENDER) == ["depth", "normal", "segmentation", "canny", "lineart"]
    assert available_conditions(["rgba.red"]) == ["canny", "lineart"]


def test_remove_keeps_up_to_four_layers():
    assert remove_knobs(["rgba", "depth"]) == {"operation": "keep", "channels": "rgba", "channels2": "depth"}
    assert remove_knobs(["rgba", "depth", "forward", "backward"])["channels4"] == "backward"
    assert remove_knobs(["rgba"]) is None
    assert remove_knobs(["rgba", "depth", "forward", "backward", "N"]) is None


def test_write_knobs_are_float_exr_raw_one_view_with_file_type_first():
    knobs = write_knobs("/tmp/c/capture.%04d.exr", ["rgba", "depth"], 1001, 1010, "left")
    assert list(knobs)[0] == "file_type"
    assert knobs == {
        "file_type": "exr", "file": "/tmp/c/capture.%04d.exr", "views": "left", "channels": "all", "datatype": "32 bit float",
        "compression": "Zip (1 scanline)", "raw": True, "create_directories": True, "use_limit": True,
        "first": 1001, "last": 1010,
    }
    assert write_knobs("x.%04d.exr", ["rgba"], 1, 1, "main")["channels"] == "rgba"
