"""A studio server: bound to 0.0.0.0 with CURVE, clients with exported files, reached only over 127.0.0.1."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import zmq

from framebridge.protocol import Client, ConnectionInfo
from framebridge.protocol.errors import ClientRejected, ClientRevoked, ServerKeyMismatch, SignatureInvalid
from framebridge.server.cli import main
from framebridge.server.launch import spawn_server


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    with spawn_server(tmp_path_factory.mktemp("studio"), "--address", "tcp://0.0.0.0:*", "--curve") as running:
        yield running


def export(studio, name):
    """A client file for ``name`` that dials the server over loopback."""
    out = studio.connection_file.parent / f"{name}.json"
    assert main(["connection", "export", name, "--host", "127.0.0.1", "--out", str(out),
                 "--connection-file", str(studio.connection_file)]) == 0
    return out


def revoke(studio, name):
    assert main(["connection", "revoke", name, "--connection-file", str(studio.connection_file)]) == 0


def frames(number):
    return {"beauty": np.full((4, 6, 3), number, np.float32)}


def test_the_server_binds_every_interface_and_its_own_file_still_works_locally(studio):
    assert studio.connection.address.startswith("tcp://0.0.0.0:")
    with studio.client(timeout=30) as owner:
        assert owner.ping()["protocol_version"] == "1.0"


def test_a_client_with_an_exported_file_is_served(studio):
    with Client(export(studio, "served"), timeout=30) as client:
        job = client.submit("echo", [1, 2], frames)
        outcome = job.wait(timeout=60)
    assert outcome.state == "completed" and sorted(outcome.results) == [1, 2]
    np.testing.assert_array_equal(outcome.results[2]["beauty"], frames(2)["beauty"])


def test_a_revoked_client_is_refused_within_seconds_while_others_keep_working(studio):
    revoked = Client(export(studio, "lost-laptop"), timeout=30)
    other = Client(export(studio, "still-here"), timeout=30)
    try:
        revoked.ping()
        other.ping()
        revoke(studio, "lost-laptop")
        deadline = time.monotonic() + 10
        with pytest.raises(ClientRevoked):
            while time.monotonic() < deadline:
                revoked.ping()
                time.sleep(0.1)
        assert other.ping()["protocol_version"] == "1.0"
    finally:
        revoked.close()
        other.close()
    with Client(studio.connection_file.parent / "lost-laptop.json", timeout=30) as reconnecting, \
            pytest.raises(ClientRejected, match="revoked"):
        reconnecting.ping()


def test_a_revoked_client_running_job_is_cancelled_and_told(studio):
    with Client(export(studio, "mid-job"), timeout=30) as client:
        job = client.submit("echo", list(range(1, 200)), frames, params={"delay": 0.05}, in_flight=1)
        job.step(timeout=1.0)
        revoke(studio, "mid-job")
        with pytest.raises(ClientRevoked):
            job.wait(timeout=20)


def test_a_made_up_key_pair_is_refused_with_a_clear_error_not_a_hang(studio):
    info = ConnectionInfo.read(export(studio, "genuine"))
    public, secret = zmq.curve_keypair()
    forged = dataclasses.replace(info, client_public=public, client_secret=secret)
    started = time.monotonic()
    with Client(connection=forged, timeout=30) as client, pytest.raises(ClientRejected, match="not issued"):
        client.ping()
    assert time.monotonic() - started < 30


def test_a_wrong_server_key_is_a_clear_error_not_a_hang(studio):
    info = ConnectionInfo.read(export(studio, "wrong-server"))
    impostor_public, _ = zmq.curve_keypair()
    started = time.monotonic()
    with Client(connection=dataclasses.replace(info, curve_public=impostor_public), timeout=30) as client, \
            pytest.raises(ServerKeyMismatch, match="public key"):
        client.ping()
    assert time.monotonic() - started < 30


def test_messages_are_checked_with_the_senders_own_signing_key(studio):
    anna = ConnectionInfo.read(export(studio, "signer-a"))
    bob = ConnectionInfo.read(export(studio, "signer-b"))
    # Anna's CURVE keys but Bob's signing key: the server checks Anna's key and refuses (its error, signed
    # with Anna's key, does not verify under Bob's either).
    with Client(connection=dataclasses.replace(anna, key=bob.key), timeout=10) as client:
        with pytest.raises(SignatureInvalid):
            client.ping()
