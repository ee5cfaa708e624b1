"""Result sequences: frame file names, and staged publication that is all or nothing."""

import numpy as np

from framebridge.protocol.sequence import StagedSequence, existing_frames, frame_filename, frame_path


def write_bytes(path, buffers):
    path.write_bytes(buffers["beauty"].tobytes())


def test_frame_files_are_padded_to_four_digits_like_the_hosts_hashes(tmp_path):
    assert frame_filename(7) == "frame_0007.exr"
    assert frame_filename(12345) == "frame_12345.exr"
    assert frame_path(tmp_path, 1001) == tmp_path / "frame_1001.exr"


def test_published_sequence_appears_all_at_once(tmp_path):
    sequence = StagedSequence(tmp_path / "out", write_bytes)
    for number in (1001, 1002):
        sequence.add(number, {"beauty": np.zeros((2, 2), np.float32)})
        assert existing_frames(tmp_path / "out") == []
    assert sequence.publish() == [tmp_path / "out/frame_1001.exr", tmp_path / "out/frame_1002.exr"]
    assert existing_frames(tmp_path / "out") == [1001, 1002]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["frame_1001.exr", "frame_1002.exr"]


def test_discarded_sequence_leaves_nothing(tmp_path):
    sequence = StagedSequence(tmp_path, write_bytes)
    sequence.add(1, {"beauty": np.zeros((2, 2), np.float32)})
    sequence.discard()
    assert list(tmp_path.iterdir()) == [] and sequence.frames == []
    assert existing_frames(tmp_path / "missing") == []
