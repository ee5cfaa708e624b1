"""Result paths, staged publication and placement values, without Blender."""

import numpy as np
import pytest

from framebridge.blender_addon.placement import StagedSequence, existing_frames, frame_filename, plan_placement
from framebridge.protocol.errors import InvalidParams


def write_bytes(path, buffers):
    path.write_bytes(buffers["beauty"].tobytes())


def test_frame_files_are_padded_to_four_digits():
    assert frame_filename(7) == "frame_0007.exr"
    assert frame_filename(12345) == "frame_12345.exr"


def test_published_sequence_appears_all_at_once(tmp_path):
    sequence = StagedSequence(tmp_path / "out", write_bytes)
    for number in (1, 2):
        sequence.add(number, {"beauty": np.zeros((2, 2), np.float32)})
        assert existing_frames(tmp_path / "out") == []
    sequence.publish()
    assert existing_frames(tmp_path / "out") == [1, 2]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["frame_0001.exr", "frame_0002.exr"]


def test_discarded_sequence_leaves_nothing(tmp_path):
    sequence = StagedSequence(tmp_path, write_bytes)
    sequence.add(1, {"beauty": np.zeros((2, 2), np.float32)})
    sequence.discard()
    assert list(tmp_path.iterdir()) == []


def test_placement_offsets_the_image_user_to_the_first_frame(tmp_path):
    placement = plan_placement("SEQUENCER", tmp_path, [12, 10, 11])
    assert placement.files == ("frame_0010.exr", "frame_0011.exr", "frame_0012.exr")
    assert (placement.frame_start, placement.frame_duration, placement.frame_offset) == (10, 3, 9)


def test_gaps_and_unknown_placements_are_refused(tmp_path):
    with pytest.raises(InvalidParams, match="not contiguous"):
        plan_placement("COMPOSITOR", tmp_path, [1, 3])
    with pytest.raises(InvalidParams, match="unknown placement"):
        plan_placement("WALL", tmp_path, [1])
