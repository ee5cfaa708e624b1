"""The ``nuke -t`` farm wrapper: its arguments, and a send of a named node against a live server."""

from __future__ import annotations

import pytest

from framebridge.nuke_plugin.core.farm import FarmRequest, parse_farm_args
from framebridge.protocol.errors import InvalidParams


def test_farm_arguments_keep_the_range_in_one_non_numeric_word():
    request = parse_farm_args(["/shots/comp.nk", "FrameBridge1", "--frames=1001-1100", "--output=/out",
                               "--set=strength=0.7", "--set=prompt=oil [paint] 2", "--set=temporal=false",
                               '--set=extra_params={"steps": 30}', "--save-as=/shots/comp_v2.nk"])
    assert request == FarmRequest("/shots/comp.nk", "FrameBridge1", 1001, 1100, "/out",
                                  {"strength": 0.7, "prompt": "oil [paint] 2", "temporal": False,
                                   "extra_params": '{"steps": 30}'}, "/shots/comp_v2.nk")
    assert parse_farm_args(["a.nk", "Read1"]).first is None


@pytest.mark.parametrize("argv, message", [
    (["a.nk"], "the following arguments are required: node"),
    (["a.nk", "N", "--frames=1-3,7"], "one contiguous range"),
    (["a.nk", "N", "--set=novalue"], "--set needs name=value"),
    (["a.nk", "N", "1001-1100"], "unrecognized arguments: 1001-1100"),
])
def test_bad_farm_arguments_are_typed_errors(argv, message):
    with pytest.raises(InvalidParams, match=message):
        parse_farm_args(argv)


def test_the_farm_wrapper_sends_a_node_of_a_script_and_saves_it(nuke, plate, server, tmp_path, capsys):
    from framebridge.nuke_plugin.host import farm, nodes

    def load():
        node = nodes.create_bridge_node("echo", plate("Plate1", frames=(1, 2, 3)))
        node["connection_file"].setValue(str(server.connection_file))

    nuke.script_loaders["/shots/comp.nk"] = load
    status = farm.main(["/shots/comp.nk", "FrameBridge1", "--frames=2-3", f"--output={tmp_path / 'out'}",
                        "--save-as=/shots/comp_v2.nk"])
    assert status == 0, capsys.readouterr().err
    assert sorted(path.name for path in (tmp_path / "out" / "v001").iterdir()) == ["frame_0002.exr", "frame_0003.exr"]
    assert nuke.saved_as == ["/shots/comp_v2.nk"] and "FrameBridge1 -> " in capsys.readouterr().out
    assert farm.main(["/shots/missing.nk", "FrameBridge1"]) == 1 and "missing.nk" in capsys.readouterr().err
    status = farm.main(["/shots/comp.nk", "FrameBridge1", f"--output={tmp_path / 'failing'}", '--set=extra_params={"fail": [2]}'])
    assert status == 1 and "frame 2" in capsys.readouterr().err
