"""Placement values for a result sequence, without Blender."""

import pytest

from framebridge.blender_addon.placement import plan_placement
from framebridge.protocol.errors import InvalidParams


def test_placement_offsets_the_image_user_to_the_first_frame(tmp_path):
    placement = plan_placement("SEQUENCER", tmp_path, [12, 10, 11])
    assert placement.files == ("frame_0010.exr", "frame_0011.exr", "frame_0012.exr")
    assert (placement.frame_start, placement.frame_duration, placement.frame_offset) == (10, 3, 9)


def test_gaps_and_unknown_placements_are_refused(tmp_path):
    with pytest.raises(InvalidParams, match="not contiguous"):
        plan_placement("COMPOSITOR", tmp_path, [1, 3])
    with pytest.raises(InvalidParams, match="unknown placement"):
        plan_placement("WALL", tmp_path, [1])
