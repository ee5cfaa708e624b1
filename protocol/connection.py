"""Connection files: where a server listens and the keys that sign and encrypt its messages.

A JSON file readable only by its owner (like Jupyter's), by default
``$XDG_CONFIG_HOME/framebridge/connection.json``. Two kinds exist:

- the server's own file (written by ``framebridge serve``): the bind address, the
  owner's signing key and, for network servers, the server's CURVE key pair. Local
  clients use it as it is.
- a client file (written by ``framebridge connection export NAME``): the address
  that client dials, the server's CURVE public key, and the client's own CURVE key
  pair and signing key. It holds nothing secret of the server's.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConnectionFileError, InsecureBind
from .files import atomic_path

__all__ = ["DEFAULT_ADDRESS", "ConnectionInfo", "default_connection_path", "dial_address", "is_loopback",
           "load_or_create"]

DEFAULT_ADDRESS = "tcp://127.0.0.1:5581"


def default_connection_path() -> Path:
    """``$FRAMEBRIDGE_CONNECTION_FILE``, else under ``$XDG_CONFIG_HOME`` (``~/.config``)."""
    explicit = os.environ.get("FRAMEBRIDGE_CONNECTION_FILE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "framebridge" / "connection.json"


def is_loopback(address: str) -> bool:
    """True for ``ipc://``, ``inproc://`` and TCP addresses on 127.0.0.0/8, ::1 or localhost."""
    scheme = address.split("://", 1)[0]
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp" or any(mark in address for mark in "@;"):
        return False  # ZeroMQ reads "source;destination" endpoints, and "a@b" hides a second host from urlsplit
    host = urlsplit(address).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def dial_address(address: str) -> str:
    """The address a client on this machine dials: a wildcard bind (``0.0.0.0``, ``*``, ``::``) becomes loopback."""
    scheme, _, rest = address.partition("://")
    if scheme != "tcp":
        return address
    host, _, port = rest.rpartition(":")
    if host in ("0.0.0.0", "*"):
        return f"tcp://127.0.0.1:{port}"
    if host in ("[::]", "::"):
        return f"tcp://[::1]:{port}"
    return address


_CURVE_FIELDS = (("curve_public_key", "curve_public"), ("curve_secret_key", "curve_secret"),
                 ("client_public_key", "client_public"), ("client_secret_key", "client_secret"))


@dataclass(frozen=True)
class ConnectionInfo:
    """Address, signing key and CURVE keys (z85 text as bytes).

    ``curve_public`` is always the server's public key; ``curve_secret`` only ever
    appears in the server's own file. A client file adds ``client_name`` and the
    client's own ``client_public``/``client_secret``; its ``key`` is that client's.
    """

    address: str
    key: bytes
    curve_public: bytes | None = None
    curve_secret: bytes | None = None
    client_name: str | None = None
    client_public: bytes | None = None
    client_secret: bytes | None = None

    @property
    def is_client_file(self) -> bool:
        return self.client_secret is not None

    def client_keypair(self) -> tuple[bytes, bytes] | None:
        """The CURVE key pair a client presents: its own, or the server's in the server's own file."""
        if self.client_public and self.client_secret:
            return self.client_public, self.client_secret
        if self.curve_public and self.curve_secret:
            return self.curve_public, self.curve_secret
        return None

    def to_json(self) -> dict[str, str]:
        data = {"address": self.address, "key": self.key.decode(), "signature_scheme": "hmac-sha256"}
        if self.client_name:
            data["client_name"] = self.client_name
        for field_name, attribute in _CURVE_FIELDS:
            value = getattr(self, attribute)
            if value:
                data[field_name] = value.decode()
        return data

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ConnectionInfo:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            address, key = data["address"], data["key"]
        except FileNotFoundError:
            raise ConnectionFileError(f"no connection file at {path}",
                                      fix="start the server with `framebridge serve`, or point to its connection file") from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ConnectionFileError(f"connection file {path} is unreadable or incomplete ({error})",
                                      fix="delete it and restart `framebridge serve` to write a new one") from None
        if not isinstance(address, str) or not isinstance(key, str) or len(key) < 32:
            raise ConnectionFileError(f"connection file {path} needs a string address and a key of 32+ characters")
        curve = {}
        for field_name, attribute in _CURVE_FIELDS:
            value = data.get(field_name)
            if value is not None and not (isinstance(value, str) and len(value) == 40):
                raise ConnectionFileError(f"connection file {path}: {field_name} must be a 40-character z85 CURVE key",
                                          fix="export a new connection file with `framebridge connection export`")
            curve[attribute] = value.encode() if value else None
        name = data.get("client_name")
        if name is not None and not isinstance(name, str):
            raise ConnectionFileError(f"connection file {path}: client_name must be a string")
        if bool(curve["client_public"]) != bool(curve["client_secret"]) or (curve["client_secret"] and not curve["curve_public"]):
            raise ConnectionFileError(f"connection file {path} has an incomplete client key set",
                                      fix="export a new connection file with `framebridge connection export`")
        return cls(address, key.encode(), client_name=name, **curve)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically with mode 0600 (the directory 0700 when created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with atomic_path(path, private=True) as temporary:
            temporary.write_text(json.dumps(self.to_json(), indent=2))
        return path


def load_or_create(path: str | os.PathLike[str] | None = None, address: str | None = None, *, curve: bool = False) -> ConnectionInfo:
    """The server's connection info: reuse the key in ``path``, or make a new file.

    A non-loopback address needs CURVE keys (``curve=True`` creates them). A file
    other users could read is not trusted: its key and CURVE keys are replaced.
    """
    path = Path(path) if path else default_connection_path()
    existing = ConnectionInfo.read(path) if path.exists() else None
    trusted = existing if existing is not None and not stat.S_IMODE(path.stat().st_mode) & 0o077 else None
    address = address or (existing.address if existing else DEFAULT_ADDRESS)
    key = trusted.key if trusted else secrets.token_hex(32).encode()
    public, secret = (trusted.curve_public, trusted.curve_secret) if trusted else (None, None)
    if curve and not secret:
        import zmq

        public, secret = zmq.curve_keypair()
    if not is_loopback(address) and not secret:
        raise InsecureBind(f"refusing to bind {address} without encryption: it is not a loopback address",
                           fix="pass --curve to create CURVE keys, or bind tcp://127.0.0.1:<port>")
    info = ConnectionInfo(address, key, public, secret)
    if info != existing:
        info.write(path)
    return info
