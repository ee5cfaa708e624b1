"""Client connection files and the server's registry of issued clients (no network)."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest
import zmq

from framebridge.protocol.connection import ConnectionInfo, dial_address
from framebridge.protocol.errors import ConnectionFileError, InvalidParams
from framebridge.server.cli import main
from framebridge.server.clients import ClientRegistry, client_address, registry_path


@pytest.fixture
def server_file(tmp_path):
    public, secret = zmq.curve_keypair()
    path = tmp_path / "server" / "connection.json"
    ConnectionInfo("tcp://0.0.0.0:47811", b"s" * 64, public, secret).write(path)
    return path


def export(server_file, name, *extra):
    out = server_file.parent / f"{name}.json"
    assert main(["connection", "export", name, "--connection-file", str(server_file), "--out", str(out), *extra]) == 0
    return out


def test_an_exported_file_holds_the_host_given_and_no_server_secret(server_file):
    out = export(server_file, "anna", "--host", "gpu01.studio")
    data = json.loads(out.read_text())
    server = ConnectionInfo.read(server_file)
    assert data["address"] == "tcp://gpu01.studio:47811"
    assert "curve_secret_key" not in data and server.curve_secret.decode() not in out.read_text()
    assert server.key.decode() not in out.read_text()
    assert data["curve_public_key"] == server.curve_public.decode()
    assert data["client_name"] == "anna" and len(data["client_secret_key"]) == 40
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_the_registry_keeps_the_public_and_signing_keys_but_never_the_client_secret(server_file):
    client = ConnectionInfo.read(export(server_file, "anna", "--host", "10.0.0.5"))
    text = registry_path(server_file).read_text()
    record = ClientRegistry.for_server(server_file).records["anna"]
    assert record.public_key == client.client_public.decode() and record.key == client.key.decode()
    assert client.client_secret.decode() not in text
    assert stat.S_IMODE(os.stat(registry_path(server_file)).st_mode) == 0o600


def test_each_client_gets_its_own_keys(server_file):
    anna = ConnectionInfo.read(export(server_file, "anna"))
    bob = ConnectionInfo.read(export(server_file, "bob"))
    assert anna.key != bob.key and anna.client_public != bob.client_public


def test_a_name_in_use_is_refused_until_revoked(server_file):
    export(server_file, "anna")
    with pytest.raises(InvalidParams, match="revoke it first"):
        ClientRegistry.for_server(server_file).issue("anna", ConnectionInfo.read(server_file))
    assert main(["connection", "revoke", "anna", "--connection-file", str(server_file)]) == 0
    reissued = ConnectionInfo.read(export(server_file, "anna"))
    assert ClientRegistry.for_server(server_file).records["anna"].public_key == reissued.client_public.decode()


def test_list_shows_active_and_revoked_clients(server_file, capsys):
    export(server_file, "anna")
    export(server_file, "bob")
    main(["connection", "revoke", "bob", "--connection-file", str(server_file)])
    capsys.readouterr()
    assert main(["connection", "list", "--connection-file", str(server_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["anna", "active"], ["bob", "revoked"]]


def test_revoking_an_unknown_name_is_a_typed_error(server_file, capsys):
    assert main(["connection", "revoke", "nobody", "--connection-file", str(server_file)]) == 2
    assert "invalid_params" in capsys.readouterr().err


def test_a_server_without_curve_keys_cannot_issue_clients(tmp_path, capsys):
    path = tmp_path / "connection.json"
    ConnectionInfo("tcp://127.0.0.1:5581", b"s" * 64).write(path)
    assert main(["connection", "export", "anna", "--connection-file", str(path), "--out", str(tmp_path / "a.json")]) == 2
    assert "--curve" in capsys.readouterr().err and not (tmp_path / "a.json").exists()


@pytest.mark.parametrize("name", ["", "-x", "a/b", "a" * 65, "../x"])
def test_client_names_are_checked(server_file, name):
    with pytest.raises(InvalidParams):
        ClientRegistry.for_server(server_file).issue(name, ConnectionInfo.read(server_file))


def test_client_address_keeps_the_port_and_takes_the_host():
    assert client_address("tcp://0.0.0.0:47811", "gpu01.studio") == "tcp://gpu01.studio:47811"
    assert client_address("tcp://192.168.1.20:5581") == "tcp://192.168.1.20:5581"
    assert client_address("tcp://0.0.0.0:5581", "fd00::5") == "tcp://[fd00::5]:5581"
    assert client_address("tcp://0.0.0.0:5581").startswith("tcp://") and "0.0.0.0" not in client_address("tcp://0.0.0.0:5581")
    with pytest.raises(InvalidParams, match="fixed port"):
        client_address("tcp://0.0.0.0:*", "gpu01")


def test_a_wildcard_bind_is_dialled_on_loopback_by_local_clients():
    assert dial_address("tcp://0.0.0.0:5581") == "tcp://127.0.0.1:5581"
    assert dial_address("tcp://*:5581") == "tcp://127.0.0.1:5581"
    assert dial_address("tcp://[::]:5581") == "tcp://[::1]:5581"
    assert dial_address("tcp://gpu01:5581") == "tcp://gpu01:5581"


def test_a_damaged_registry_admits_no_issued_client(server_file):
    export(server_file, "anna")
    registry = ClientRegistry.for_server(server_file)
    assert registry.records["anna"].active
    registry_path(server_file).write_text("{not json")
    assert registry.refresh() and registry.records == {}


def test_a_client_file_with_a_half_key_set_is_refused(server_file):
    data = json.loads(export(server_file, "anna").read_text())
    del data["client_secret_key"]
    broken = server_file.parent / "broken.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(ConnectionFileError, match="incomplete client key"):
        ConnectionInfo.read(broken)


def test_exports_at_the_same_time_lose_no_client(server_file):
    names = [f"farm-{index}" for index in range(8)]
    server = ConnectionInfo.read(server_file)
    threads = [threading.Thread(target=ClientRegistry.for_server(server_file).issue, args=(name, server, "gpu01"))
               for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(ClientRegistry.for_server(server_file).records) == names


def test_a_machine_that_only_knows_itself_as_localhost_needs_host(monkeypatch):
    monkeypatch.setattr("socket.getfqdn", lambda: "localhost")
    monkeypatch.setattr("socket.gethostname", lambda: "localhost")
    with pytest.raises(InvalidParams, match="--host"):
        client_address("tcp://0.0.0.0:47811")
