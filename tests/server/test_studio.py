"""A studio server: bound to 0.0.0.0 with CURVE, clients with exported files, reached only over 127.0.0.1."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import zmq

from framebridge.protocol import PROTOCOL_VERSION, Client, ConnectionInfo
from framebridge.protocol.errors import (
    ClientRejected,
    ClientRevoked,
    Forbidden,
    ServerKeyMismatch,
    SignatureInvalid,
    UnknownJob,
)
from fixtures.server import issue_client_file
from framebridge.protocol.messages import Ack, Cancel, FrameIn, StatusRequest
from framebridge.server.cli import main


def revoke(studio_server, name):
    assert main(["connection", "revoke", name, "--connection-file", str(studio_server.connection_file)]) == 0


def frames(number):
    return {"beauty": np.full((4, 6, 3), number, np.float32)}


def test_the_server_binds_every_interface_and_its_own_file_still_works_locally(studio_server):
    assert studio_server.connection.address.startswith("tcp://0.0.0.0:")
    with studio_server.client(timeout=30) as owner:
        assert owner.ping()["protocol_version"] == PROTOCOL_VERSION


def test_a_client_with_an_exported_file_is_served(studio_server):
    with Client(issue_client_file(studio_server, "served"), timeout=30) as client:
        job = client.submit("echo", [1, 2], frames)
        outcome = job.wait(timeout=60)
    assert outcome.state == "completed" and sorted(outcome.results) == [1, 2]
    np.testing.assert_array_equal(outcome.results[2]["beauty"], frames(2)["beauty"])


def test_a_revoked_client_is_refused_within_seconds_while_others_keep_working(studio_server):
    revoked = Client(issue_client_file(studio_server, "lost-laptop"), timeout=30)
    other = Client(issue_client_file(studio_server, "still-here"), timeout=30)
    try:
        revoked.ping()
        other.ping()
        revoke(studio_server, "lost-laptop")
        deadline = time.monotonic() + 10
        with pytest.raises(ClientRevoked):
            while time.monotonic() < deadline:
                revoked.ping()
                time.sleep(0.1)
        assert other.ping()["protocol_version"] == PROTOCOL_VERSION
    finally:
        revoked.close()
        other.close()
    with Client(studio_server.connection_file.parent / "lost-laptop.json", timeout=30) as reconnecting, \
            pytest.raises(ClientRejected, match="revoked"):
        reconnecting.ping()


def test_a_revoked_client_running_job_is_cancelled_and_told(studio_server):
    with Client(issue_client_file(studio_server, "mid-job"), timeout=30) as client:
        job = client.submit("echo", list(range(1, 200)), frames, params={"delay": 0.05}, in_flight=1)
        job.step(timeout=1.0)
        revoke(studio_server, "mid-job")
        # Another client's handshake right away: the server may learn of the revocation there first.
        with Client(issue_client_file(studio_server, "mid-job-neighbour"), timeout=30) as neighbour:
            neighbour.ping()
        with pytest.raises(ClientRevoked):
            job.wait(timeout=20)


def test_a_made_up_key_pair_is_refused_with_a_clear_error_not_a_hang(studio_server):
    info = ConnectionInfo.read(issue_client_file(studio_server, "genuine"))
    public, secret = zmq.curve_keypair()
    forged = dataclasses.replace(info, client_public=public, client_secret=secret)
    started = time.monotonic()
    with Client(connection=forged, timeout=30) as client, pytest.raises(ClientRejected, match="not issued"):
        client.ping()
    assert time.monotonic() - started < 30


def test_a_refused_key_is_named_whenever_the_first_message_goes_never_a_blocked_send(studio_server):
    # zmq drops a refused connection's queue and blocks sends until it reconnects: one of these used to hang for good.
    info = ConnectionInfo.read(issue_client_file(studio_server, "late-sender"))
    for attempt in range(40):
        public, secret = zmq.curve_keypair()
        forged = dataclasses.replace(info, client_public=public, client_secret=secret)
        with Client(connection=forged, timeout=10) as client, pytest.raises(ClientRejected, match="not issued"):
            time.sleep(attempt * 0.01)
            client.ping()


def test_a_wrong_server_key_is_a_clear_error_not_a_hang(studio_server):
    info = ConnectionInfo.read(issue_client_file(studio_server, "wrong-server"))
    impostor_public, _ = zmq.curve_keypair()
    started = time.monotonic()
    with Client(connection=dataclasses.replace(info, curve_public=impostor_public), timeout=30) as client, \
            pytest.raises(ServerKeyMismatch, match="public key"):
        client.ping()
    assert time.monotonic() - started < 30


def test_messages_are_checked_with_the_senders_own_signing_key(studio_server):
    anna = ConnectionInfo.read(issue_client_file(studio_server, "signer-a"))
    bob = ConnectionInfo.read(issue_client_file(studio_server, "signer-b"))
    # Anna's CURVE keys but Bob's signing key: the server checks Anna's key and refuses (its error, signed
    # with Anna's key, does not verify under Bob's either).
    with Client(connection=dataclasses.replace(anna, key=bob.key), timeout=10) as client:
        with pytest.raises(SignatureInvalid):
            client.ping()


@pytest.fixture(scope="module")
def anna_and_bob(studio_server):
    anna = Client(issue_client_file(studio_server, "anna"), timeout=30)
    bob = Client(issue_client_file(studio_server, "bob"), timeout=30)
    yield anna, bob
    anna.close()
    bob.close()


def test_another_client_cannot_see_resend_attach_to_or_cancel_a_job(anna_and_bob):
    anna, bob = anna_and_bob
    job = anna.submit("echo", [1, 2, 3], frames)
    assert job.wait(timeout=60).state == "completed"
    for attempt in (lambda: bob.request(StatusRequest(resend=False), job=job.id),
                    lambda: bob.request(StatusRequest(resend=True), job=job.id),
                    lambda: bob.attach(job.id),
                    lambda: bob.request(Cancel(), job=job.id)):
        with pytest.raises(UnknownJob) as raised:
            attempt()
        assert raised.value.code == "unknown_job" and "anna" not in str(raised.value)
    assert not bob._receive(0.5), "another client's results reached bob"


def test_another_client_cannot_send_frames_to_or_acknowledge_results_of_a_job(anna_and_bob):
    anna, bob = anna_and_bob
    job = anna.submit("echo", [1, 2], frames)
    for body in (FrameIn(frame=1), Ack(frames=[1])):
        with pytest.raises(UnknownJob):
            bob.request(body, job=job.id)
    assert job.wait(timeout=60).state == "completed"


def test_the_owner_reconnecting_keeps_access_to_its_job(studio_server):
    path = issue_client_file(studio_server, "reconnecting")
    with Client(path, timeout=30) as first:
        job = first.submit("echo", [1, 2, 3, 4], frames, params={"delay": 0.2})
        deadline = time.monotonic() + 30
        while not job.received and time.monotonic() < deadline:
            job.step(timeout=0.1)
        assert job.received, "no first result within 30 s"
    with Client(path, timeout=30) as second:
        outcome = second.attach(job.id, frames).wait(timeout=60)
    assert outcome.state == "completed" and set(outcome.results) | job.received == {1, 2, 3, 4}


def test_the_servers_owner_lists_every_job_without_frames_and_clients_may_not(studio_server, anna_and_bob):
    anna, bob = anna_and_bob
    job = bob.submit("echo", [5], frames)
    job.wait(timeout=60)
    with studio_server.client(timeout=30) as owner:
        listed = {entry["id"]: entry for entry in owner.jobs()}
        # The owner is a principal of its own: another client's job is unknown to it too.
        with pytest.raises(UnknownJob):
            owner.request(StatusRequest(resend=True), job=job.id)
    assert listed[job.id] == {"id": job.id, "owner": "bob", "op": "echo", "state": "completed", "total": 1,
                              "received": 1, "done": 1, "failed": 0}
    with pytest.raises(Forbidden):
        anna.jobs()


def test_the_jobs_command_lists_jobs_for_the_servers_owner(studio_server, capsys):
    with Client(issue_client_file(studio_server, "listed"), timeout=30) as client:
        job = client.submit("echo", [1], frames)
        job.wait(timeout=60)
    capsys.readouterr()
    assert main(["jobs", "--connection-file", str(studio_server.connection_file), "--timeout", "30"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith(job.id)]
    assert line.split()[1:4] == ["listed", "echo", "completed"]
