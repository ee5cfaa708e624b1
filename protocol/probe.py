"""Is anything listening at a loopback address? Answered at once, without speaking ZeroMQ.

A ZeroMQ connect never fails; it waits for the server to appear. A connection
file left behind by a stopped server would make every first request wait for its
whole timeout, so a client asks the operating system first: a refused TCP
connection (or a missing ``ipc://`` socket file) means no server is running.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from .connection import is_loopback

__all__ = ["listening"]


def listening(address: str, timeout: float = 0.5) -> bool | None:
    """False if nothing listens at a loopback ``address``; None when that cannot be told (non-loopback, wildcards)."""
    if not is_loopback(address):
        return None
    scheme, _, rest = address.partition("://")
    if scheme == "ipc":
        if rest.startswith("@") or not rest:
            return None
        if not os.path.exists(rest):
            return False
        family, target = socket.AF_UNIX, rest
    elif scheme == "tcp":
        parts = urlsplit(address)
        try:
            port = parts.port
        except ValueError:
            return None
        if not port or not parts.hostname:
            return None
        family, target = (socket.AF_INET6 if ":" in parts.hostname else socket.AF_INET), (parts.hostname, port)
    else:
        return None
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(target)
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return None
    return True
