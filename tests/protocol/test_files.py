"""Atomic writes: all or nothing, readable results, private secrets."""

from __future__ import annotations

import os
import stat

import pytest

from framebridge.protocol.files import atomic_path


def test_the_file_appears_whole_and_follows_the_umask(tmp_path):
    target = tmp_path / "out" / "frame_0001.exr"
    previous = os.umask(0o022)
    try:
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"pixels")
            assert not target.exists() and temporary.parent == target.parent and temporary.suffix == ".exr"
    finally:
        os.umask(previous)
    assert target.read_bytes() == b"pixels"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(target.parent) == ["frame_0001.exr"]


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["result.json"]


def test_private_files_are_owner_only(tmp_path):
    with atomic_path(tmp_path / "secret.json", private=True) as temporary:
        temporary.write_text("{}")
    assert stat.S_IMODE((tmp_path / "secret.json").stat().st_mode) == 0o600
