"""Connection files and addresses: loopback means loopback, and a key others could read is not reused."""

from __future__ import annotations

import os
import stat

import pytest

from framebridge.protocol.connection import ConnectionInfo, is_loopback, load_or_create


@pytest.mark.parametrize("address", ["tcp://10.1.2.3@127.0.0.1:55999", "tcp://127.0.0.2@127.0.0.1:55999",
                                     "tcp://127.0.0.1:5555;10.0.0.1:5555"])
def test_an_address_that_names_a_second_host_is_not_loopback(address):
    assert not is_loopback(address)


def test_plain_loopback_addresses_still_are():
    assert all(is_loopback(a) for a in ("tcp://127.0.0.1:5581", "tcp://localhost:1", "tcp://[::1]:5", "ipc:///tmp/x"))


def test_a_connection_file_other_users_can_read_gets_a_new_key_and_owner_only_mode(tmp_path):
    path = tmp_path / "connection.json"
    ConnectionInfo("tcp://127.0.0.1:5581", b"k" * 64).write(path)
    os.chmod(path, 0o644)
    info = load_or_create(path)
    assert info.key != b"k" * 64 and info.address == "tcp://127.0.0.1:5581"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and ConnectionInfo.read(path).key == info.key


def test_an_owner_only_connection_file_keeps_its_key(tmp_path):
    path = tmp_path / "connection.json"
    ConnectionInfo("tcp://127.0.0.1:5581", b"k" * 64).write(path)
    assert load_or_create(path).key == b"k" * 64
