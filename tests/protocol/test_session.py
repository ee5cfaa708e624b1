"""Connecting to a live `framebridge serve` and checking it, as both plugins do before a job."""

import dataclasses
import json

import pytest
import zmq

from fixtures.clients import StubClient
from fixtures.server import issue_client_file
from framebridge.protocol.connection import ConnectionInfo
from framebridge.protocol.errors import ClientRejected, ConnectionFileError, ServerUnreachable, UnknownOp, VersionMismatch
from framebridge.protocol.session import ConnectionSettings, check_server, connect


@pytest.fixture
def client(server):
    client = connect(ConnectionSettings(connection_file=str(server.connection_file)))
    yield client
    client.close()


def test_check_server_reports_versions_and_ops(client):
    info = check_server(client, required_op="echo")
    assert "echo" in info.ops and info.protocol_version.startswith("1.")
    assert "echo" in info.summary()


def test_missing_op_names_the_ones_offered(client):
    with pytest.raises(UnknownOp, match="no op 'paint'") as caught:
        check_server(client, required_op="paint")
    assert "echo" in caught.value.fix


def test_unreachable_server_says_how_to_start_one_and_where_to_look(unreachable_client):
    with pytest.raises(ServerUnreachable, match="no FrameBridge server answers at tcp://127.0.0.1:9") as caught:
        check_server(unreachable_client, where="the shot's connection file")
    assert "framebridge serve" in caught.value.fix and "the shot's connection file" in caught.value.fix


def test_missing_connection_file_is_a_typed_error(tmp_path):
    with pytest.raises(ConnectionFileError, match="no connection file"):
        connect(ConnectionSettings(connection_file=str(tmp_path / "absent.json")))


def test_address_override_keeps_the_files_key(server):
    address = json.loads(server.connection_file.read_text())["address"]
    client = connect(ConnectionSettings(str(server.connection_file), address=address))
    try:
        assert check_server(client).address == address
    finally:
        client.close()


def test_another_protocol_major_is_refused_with_a_fix_naming_the_host():
    with pytest.raises(VersionMismatch, match="protocol 2.0, this Nuke plugin speaks") as caught:
        check_server(StubClient("2.0"), host="Nuke plugin")
    assert "9.0.0" in caught.value.fix and "Nuke plugin" in caught.value.fix
    assert check_server(StubClient("1.0")).summary() == "FrameBridge 9.0.0 (protocol 1.0) at tcp://127.0.0.1:1, 1.0 ms; ops: echo [builtin]"


def test_a_refused_key_keeps_its_own_error_instead_of_server_unreachable(studio_server, tmp_path):
    info = ConnectionInfo.read(issue_client_file(studio_server, "session-forged"))
    public, secret = zmq.curve_keypair()
    forged = tmp_path / "forged.json"
    dataclasses.replace(info, client_public=public, client_secret=secret).write(forged)
    client = connect(ConnectionSettings(str(forged), timeout=30))
    try:
        with pytest.raises(ClientRejected):
            check_server(client)
    finally:
        client.close()


def test_address_override_keeps_a_client_files_own_keys(studio_server):
    path = issue_client_file(studio_server, "session-override")
    info = ConnectionInfo.read(path)
    client = connect(ConnectionSettings(str(path), address=info.address, timeout=30))
    try:
        assert client.connection.client_keypair() == (info.client_public, info.client_secret)
        assert check_server(client).address == info.address
    finally:
        client.close()
