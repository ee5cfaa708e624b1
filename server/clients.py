"""The registry of clients a server issued: who may connect, with which keys, and who was revoked.

A JSON file beside the server's connection file (``connection.json`` has
``connection.clients.json``), mode 0600, written atomically. It holds each
client's public CURVE key and signing key (the server verifies that client's
messages with it), never a client's CURVE secret: that exists only in the
client's own file. The server re-reads the registry when the file changes, so
``framebridge connection revoke NAME`` needs no restart.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import zmq

from framebridge.protocol.connection import ConnectionInfo, is_loopback
from framebridge.protocol.errors import ConnectionFileError, InvalidParams
from framebridge.protocol.files import atomic_path

__all__ = ["ClientRecord", "ClientRegistry", "client_address", "registry_path"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_WILDCARD_HOSTS = ("0.0.0.0", "*", "::", "")


def registry_path(connection_file: str | os.PathLike[str]) -> Path:
    """Where the server whose own file is ``connection_file`` keeps its clients."""
    path = Path(connection_file)
    return path.with_name(f"{path.stem}.clients.json")


def client_address(bind_address: str, host: str | None = None) -> str:
    """The address a client dials for a server bound to ``bind_address``: same port, ``host`` or this machine's name."""
    parts = urlsplit(bind_address)
    if parts.scheme != "tcp":
        raise InvalidParams(f"clients on other machines cannot dial {bind_address}",
                            fix="serve on a TCP address, e.g. --address tcp://0.0.0.0:5581 --curve")
    port = bind_address.rpartition(":")[2]
    if not port.isdigit():
        raise InvalidParams(f"the server address {bind_address} has no fixed port yet",
                            fix="serve with a fixed port, e.g. --address tcp://0.0.0.0:5581 --curve")
    bound_host = bind_address.partition("://")[2].rpartition(":")[0].strip("[]")
    if not host and bound_host not in _WILDCARD_HOSTS:
        host = bound_host
    if not host:
        names = [name for name in (socket.getfqdn(), socket.gethostname()) if not is_loopback(f"tcp://{name}:{port}")]
        if not names:
            raise InvalidParams("this machine knows itself only as localhost, which other machines cannot dial",
                                fix="pass --host with the name or IP address the clients reach this server by")
        host = names[0]
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


@dataclass(frozen=True)
class ClientRecord:
    """One issued client: its name, public CURVE key and signing key, the address it was given, when."""

    name: str
    public_key: str
    key: str
    address: str
    issued_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ClientRegistry:
    """The issued clients of one server, read from and written to its registry file."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.records: dict[str, ClientRecord] = {}
        self._stamp: tuple[int, int, int] | None = None
        self.load()

    @classmethod
    def for_server(cls, connection_file: str | os.PathLike[str]) -> ClientRegistry:
        return cls(registry_path(connection_file))

    def load(self) -> None:
        """Read the file (none yet: no clients); an unreadable file is a :class:`ConnectionFileError`."""
        self._stamp = self._current_stamp()
        if self._stamp is None:
            self.records = {}
            return
        try:
            data = json.loads(self.path.read_text())
            records = [ClientRecord(**entry) for entry in data["clients"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            self.records = {}
            raise ConnectionFileError(f"client registry {self.path} is unreadable ({type(error).__name__}: {error})",
                                      fix="restore it from a backup, or delete it and export the clients again") from None
        self.records = {record.name: record for record in records}

    def refresh(self) -> bool:
        """Re-read the file if it changed since the last read; True when it did.

        An unreadable file admits no issued client until it is fixed (the
        error is logged), so a damaged registry never keeps a revoked key alive.
        """
        if self._current_stamp() == self._stamp:
            return False
        try:
            self.load()
        except ConnectionFileError as error:
            log.error("%s; no issued client is admitted until it is fixed", error)
        return True

    def by_public_key(self, public_key: str) -> ClientRecord | None:
        for record in self.records.values():
            if record.public_key == public_key:
                return record
        return None

    def issue(self, name: str, server: ConnectionInfo, host: str | None = None) -> ConnectionInfo:
        """Register a new client ``name`` and return its connection file's contents (no server secret)."""
        if not _NAME.match(name):
            raise InvalidParams(f"client name {name!r} must be 1-64 characters of A-Z a-z 0-9 _ . @ -, "
                                "starting with a letter or digit")
        if not server.curve_public or not server.curve_secret:
            raise ConnectionFileError("this server has no CURVE keys, so it cannot admit other machines",
                                      fix="serve once with `framebridge serve --address tcp://0.0.0.0:5581 --curve`")
        address = client_address(server.address, host)
        public, secret = zmq.curve_keypair()
        key = secrets.token_hex(32)
        with self._exclusive():
            self.load()
            existing = self.records.get(name)
            if existing is not None and existing.active:
                raise InvalidParams(f"a client named {name!r} was already issued on this server",
                                    fix=f"revoke it first (`framebridge connection revoke {name}`) or choose another name")
            self.records[name] = ClientRecord(name, public.decode(), key, address, time.time())
            self.save()
        return ConnectionInfo(address, key.encode(), server.curve_public, client_name=name, client_public=public,
                              client_secret=secret)

    def revoke(self, name: str) -> ClientRecord:
        """Mark ``name`` revoked: the server refuses its key from now on."""
        with self._exclusive():
            self.load()
            record = self.records.get(name)
            if record is None:
                raise InvalidParams(f"no client named {name!r} was issued on this server",
                                    details={"clients": sorted(self.records)})
            if record.active:
                record = self.records[name] = replace(record, revoked_at=time.time())
                self.save()
        return record

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = {"clients": [asdict(record) for record in sorted(self.records.values(), key=lambda r: r.name)]}
        with atomic_path(self.path, private=True) as temporary:
            temporary.write_text(json.dumps(data, indent=2))
        self._stamp = self._current_stamp()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One writer at a time, so two exports at once cannot lose a client (an advisory lock; POSIX only)."""
        try:
            import fcntl
        except ImportError:
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.path.with_suffix(".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _current_stamp(self) -> tuple[int, int, int] | None:
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return None
        return status.st_ino, status.st_mtime_ns, status.st_size
