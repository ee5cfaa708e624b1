"""The gatekeeper without a network: admission decisions, revocations, ownership and per-client signatures."""

from __future__ import annotations

import hashlib
import hmac

import pytest
import zmq

from framebridge.protocol.buffers import Limits
from framebridge.protocol.connection import ConnectionInfo
from framebridge.protocol.errors import ClientRevoked
from framebridge.protocol.messages import Ping
from framebridge.protocol.wire import Codec
from framebridge.server.auth import Gatekeeper
from framebridge.server.clients import ClientRegistry


class FirstFrame:
    """What ZeroMQ hands the server: a frame that knows its connection's ZAP User-Id."""

    def __init__(self, user_id):
        self.user_id = user_id

    def get(self, name):
        assert name == "User-Id"
        return self.user_id


@pytest.fixture
def server_info():
    public, secret = zmq.curve_keypair()
    return ConnectionInfo("tcp://0.0.0.0:47811", b"s" * 64, public, secret)


@pytest.fixture
def registry(tmp_path):
    return ClientRegistry(tmp_path / "connection.clients.json")


def gatekeeper(server_info, registry):
    return Gatekeeper(server_info, Codec(server_info.key), registry, Limits())


def test_only_the_owner_and_issued_active_keys_are_admitted(server_info, registry):
    anna = registry.issue("anna", server_info, "gpu01")
    gate = gatekeeper(server_info, ClientRegistry(registry.path))
    stranger, _ = zmq.curve_keypair()
    assert gate.callback("*", server_info.curve_public) and gate.callback("*", anna.client_public)
    assert not gate.callback("*", stranger)
    registry.revoke("anna")
    assert not gate.callback("*", anna.client_public)


def test_a_revocation_first_seen_by_a_handshake_still_reaches_the_server(server_info, registry):
    anna = registry.issue("anna", server_info, "gpu01")
    bob = registry.issue("bob", server_info, "gpu01")
    gate = gatekeeper(server_info, ClientRegistry(registry.path))
    registry.revoke("anna")
    assert gate.callback("*", bob.client_public)  # the ZAP thread re-reads the registry first
    assert gate.refresh() == {anna.client_public.decode()}
    assert gate.refresh() == set()


def test_an_open_connection_of_a_revoked_client_is_refused(server_info, registry):
    anna = registry.issue("anna", server_info, "gpu01")
    gate = gatekeeper(server_info, ClientRegistry(registry.path))
    principal = gate.identify(b"peer-1", FirstFrame(anna.client_public.decode()))
    gate.check_active(principal)
    registry.revoke("anna")
    gate.refresh()
    with pytest.raises(ClientRevoked, match="anna"):
        gate.check_active(principal)


def test_messages_to_a_client_are_signed_with_its_own_key(server_info, registry):
    anna = registry.issue("anna", server_info, "gpu01")
    gate = gatekeeper(server_info, ClientRegistry(registry.path))
    gate.identify(b"peer-1", FirstFrame(anna.client_public.decode()))
    tag, signature, header = gate.sign_for(b"peer-1", Codec(server_info.key).encode(Ping()))
    assert signature == hmac.new(anna.key, tag + header, hashlib.sha256).hexdigest().encode()
    assert Codec(anna.key, incoming={"ping": Ping}).decode([tag, signature, header]).body == Ping()


def test_a_job_belongs_to_the_principal_that_submitted_it(server_info, registry):
    anna = registry.issue("anna", server_info, "gpu01")
    bob = registry.issue("bob", server_info, "gpu01")
    gate = gatekeeper(server_info, ClientRegistry(registry.path))
    as_anna = gate.identify(b"anna-1", FirstFrame(anna.client_public.decode()))
    as_bob = gate.identify(b"bob-1", FirstFrame(bob.client_public.decode()))
    gate.claim("job-1", as_anna)
    assert gate.owns(as_anna, "job-1") and not gate.owns(as_bob, "job-1") and not gate.owns(gate.owner, "job-1")
    assert gate.owns(gate.identify(b"anna-2", FirstFrame(anna.client_public.decode())), "job-1")
    registry.revoke("anna")
    gate.refresh()
    assert not gate.may_deliver("job-1")
