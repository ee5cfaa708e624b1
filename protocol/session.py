"""Opening a checked link to the server, as every host plugin does before a job.

:func:`connect` turns plain connection settings into a :class:`~framebridge.protocol.client.Client`;
:func:`check_server` pings it, refuses another protocol major or a missing op,
and returns what a "Test Connection" button shows; a refused key or a wrong
server key keeps its own error, since retrying cannot fix it. The fix texts name where the
host keeps its connection settings, so each plugin passes its own ``where``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .client import Client
from .errors import AuthenticationFailed, ConnectionFailure, ServerUnreachable, UnknownOp, VersionMismatch
from .version import PROTOCOL_VERSION

__all__ = ["ConnectionSettings", "ServerInfo", "connect", "check_server"]


@dataclass(frozen=True)
class ConnectionSettings:
    """Where the server is: a connection file (the default place when empty) and an optional address override."""

    connection_file: str = ""
    address: str = ""
    timeout: float = 5.0
    job_timeout: float = 120.0


@dataclass(frozen=True)
class ServerInfo:
    """What a connection test shows: versions, ops and their backends, and the ping time."""

    address: str
    server_version: str
    protocol_version: str
    ops: dict[str, Any]
    round_trip: float

    def summary(self) -> str:
        ops = ", ".join(f"{name} [{', '.join(map(str, spec.get('backends', [])))}]" for name, spec in sorted(self.ops.items()))
        return (f"FrameBridge {self.server_version} (protocol {self.protocol_version}) at {self.address}, "
                f"{self.round_trip * 1000:.1f} ms; ops: {ops}")


def connect(settings: ConnectionSettings) -> Client:
    """A client for the configured server; a missing or bad connection file is a :class:`ConnectionFileError`."""
    return Client(settings.connection_file or None, address=settings.address or None, timeout=settings.timeout,
                  job_timeout=settings.job_timeout)


def check_server(client: Client, required_op: str | None = None, *, host: str = "client",
                 where: str = "the connection file / address") -> ServerInfo:
    """Ping the server and read its capabilities; refuse another protocol major or a missing op.

    ``host`` names the caller in a version mismatch (``"Blender add-on"``) and
    ``where`` tells an unreachable server's fix where the connection settings live.
    """
    try:
        pong = client.ping()
        capabilities = client.capabilities()
    except AuthenticationFailed:
        raise
    except ConnectionFailure as error:
        raise ServerUnreachable(
            f"no FrameBridge server answers at {client.connection.address}",
            fix=f"start one with `framebridge serve`, and check {where}",
        ) from error
    ours, theirs = PROTOCOL_VERSION.split(".")[0], str(pong["protocol_version"]).split(".")[0]
    if ours != theirs:
        raise VersionMismatch(
            f"the server speaks protocol {pong['protocol_version']}, this {host} speaks {PROTOCOL_VERSION}",
            fix=f"install the same major version of FrameBridge for the server and the {host} "
                f"(server {pong['server_version']})",
        )
    ops = dict(capabilities.get("ops", {}))
    if required_op and required_op not in ops:
        raise UnknownOp(f"the server at {client.connection.address} has no op {required_op!r}",
                        fix=f"choose one of {', '.join(sorted(ops))}, or update the server")
    return ServerInfo(client.connection.address, str(pong["server_version"]), str(pong["protocol_version"]), ops,
                      float(pong["round_trip"]))
