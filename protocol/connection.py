"""Connection files: where a server listens and the key that signs its messages.

A JSON file readable only by its owner (like Jupyter's), by default
``$XDG_CONFIG_HOME/framebridge/connection.json``. Non-loopback servers also
carry a CURVE key pair there; clients read the server's public key from it.
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

__all__ = ["DEFAULT_ADDRESS", "ConnectionInfo", "default_connection_path", "is_loopback", "load_or_create"]

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


@dataclass(frozen=True)
class ConnectionInfo:
    """Address, signing key and (for non-loopback servers) CURVE keys."""

    address: str
    key: bytes
    curve_public: bytes | None = None
    curve_secret: bytes | None = None

    def to_json(self) -> dict[str, str]:
        data = {"address": self.address, "key": self.key.decode(), "signature_scheme": "hmac-sha256"}
        if self.curve_public:
            data["curve_public_key"] = self.curve_public.decode()
        if self.curve_secret:
            data["curve_secret_key"] = self.curve_secret.decode()
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
        public, secret = data.get("curve_public_key"), data.get("curve_secret_key")
        return cls(address, key.encode(), public.encode() if public else None, secret.encode() if secret else None)

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
