"""The add-on's server link against a live `framebridge serve` process, without Blender."""

import dataclasses
import time

import numpy as np
import pytest
import zmq

from fixtures.server import issue_client_file
from framebridge.blender_addon.comms import Finished, FrameStored, JobRunner, check_server, connection_file_hint
from framebridge.protocol.connection import ConnectionInfo
from framebridge.protocol.errors import ClientRejected, ServerUnreachable
from framebridge.protocol.session import ConnectionSettings, connect


def test_unreachable_server_says_how_to_start_one_and_points_at_the_preferences(unreachable_client):
    with pytest.raises(ServerUnreachable) as caught:
        check_server(unreachable_client)
    assert "framebridge serve" in caught.value.fix and "add-on preferences" in caught.value.fix


def test_runner_polls_results_into_the_sink(server):
    client = connect(ConnectionSettings(connection_file=str(server.connection_file)))
    stored = {}
    frames = {n: {"beauty": np.full((4, 6, 3), n, np.float32)} for n in (1, 2, 3)}
    try:
        runner = JobRunner(client, "echo", [1, 2, 3], frames.__getitem__, stored.__setitem__, params={}, shot={}, backend=None)
        messages = []
        while runner.finished is None:
            messages.extend(runner.poll(budget=0.01))
    finally:
        client.close()
    assert sorted(stored) == [1, 2, 3]
    assert float(stored[2]["beauty"][0, 0, 0]) == 2.0
    assert sorted(m.number for m in messages if isinstance(m, FrameStored)) == [1, 2, 3]
    assert isinstance(messages[-1], Finished) and messages[-1].succeeded


def test_cancel_ends_the_job_as_cancelled(server):
    client = connect(ConnectionSettings(connection_file=str(server.connection_file)))
    frames = {n: {"beauty": np.zeros((4, 6, 3), np.float32)} for n in range(1, 11)}
    try:
        runner = JobRunner(client, "echo", list(frames), frames.__getitem__, lambda n, b: None,
                           params={"delay": 0.5}, shot={}, backend=None)
        runner.poll()
        runner.cancel()
    finally:
        client.close()
    assert runner.finished.state == "cancelled"


def test_a_client_file_from_a_studio_server_runs_a_job(studio_server):
    client = connect(ConnectionSettings(connection_file=str(issue_client_file(studio_server, "blender-workstation")),
                                       timeout=30))
    stored = {}
    frames = {n: {"beauty": np.full((4, 6, 3), n, np.float32)} for n in (1, 2)}
    try:
        assert "echo" in check_server(client, "echo").ops
        runner = JobRunner(client, "echo", [1, 2], frames.__getitem__, stored.__setitem__, params={}, shot={}, backend=None)
        deadline = time.monotonic() + 60
        while runner.finished is None and time.monotonic() < deadline:
            runner.poll(budget=0.05)
    finally:
        client.close()
    assert runner.finished is not None and runner.finished.succeeded and sorted(stored) == [1, 2]


def test_a_refused_client_file_says_so_instead_of_server_unreachable(studio_server, tmp_path):
    info = ConnectionInfo.read(issue_client_file(studio_server, "blender-forged"))
    public, secret = zmq.curve_keypair()
    forged = tmp_path / "forged.json"
    dataclasses.replace(info, client_public=public, client_secret=secret).write(forged)
    client = connect(ConnectionSettings(connection_file=str(forged), timeout=30))
    try:
        with pytest.raises(ClientRejected, match="new connection file"):
            check_server(client)
    finally:
        client.close()


def test_the_preferences_say_whose_connection_file_it_is(studio_server, tmp_path):
    client_file = issue_client_file(studio_server, "blender-hint")
    assert connection_file_hint(str(client_file)).endswith(f"client 'blender-hint' of {ConnectionInfo.read(client_file).address}")
    assert "the server's own file" in connection_file_hint(str(studio_server.connection_file))
    assert "no connection file" in connection_file_hint(str(tmp_path / "absent.json"))
