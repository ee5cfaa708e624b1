"""Watching a client's CURVE handshake, so a refused key is an error at once instead of a silent wait.

ZeroMQ keeps retrying a handshake the server refused and never tells the
socket's user. A monitor socket sees each attempt's outcome: the server's
authenticator refusing the client key (``HANDSHAKE_FAILED_AUTH``), or the
handshake breaking off before the server said anything, which is what a wrong
server public key (or a server without CURVE) looks like from the client.
"""

from __future__ import annotations

import zmq

from .errors import ClientRejected, ServerKeyMismatch

__all__ = ["HandshakeWatch"]

_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
           | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


class HandshakeWatch:
    """The monitor of one CURVE client socket; :meth:`check` raises the typed error of a failed handshake."""

    def __init__(self, socket: zmq.Socket, address: str, client_name: str | None = None):
        self.socket = socket
        self.address = address
        self.client_name = client_name
        self.monitor = socket.get_monitor_socket(_EVENTS)
        self.succeeded = False

    def check(self) -> None:
        """Read the events that arrived; raise on a refused or broken handshake."""
        from zmq.utils.monitor import recv_monitor_message

        while self.monitor.poll(0):
            event = recv_monitor_message(self.monitor)["event"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.succeeded = True
            elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                who = f" ({self.client_name!r})" if self.client_name else ""
                raise ClientRejected(
                    f"the server at {self.address} did not accept this client's key{who}: "
                    "it may be revoked, or not issued by this server",
                    fix="ask the server's owner for a new connection file (`framebridge connection export NAME` "
                        "on the server) and use it instead of this one",
                )
            else:
                raise ServerKeyMismatch(
                    f"the server at {self.address} broke off the encrypted handshake: its public key is not the "
                    "one in this connection file, or it does not run with CURVE",
                    fix="use a connection file exported by this server (`framebridge connection export NAME`)",
                )

    def close(self) -> None:
        self.socket.disable_monitor()
        self.monitor.close(linger=0)
