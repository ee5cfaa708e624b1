"""Checks on what a user types on the `framebridge` command line, each failing in one line that names the fix.

The command line reads JSON files (``--params-file``, ``--shot``), binds
addresses (``serve --address``) and writes where ``--output`` and
``--connection-file`` point; every mistake there is turned into a typed error
before any frame is read or any socket is bound.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from framebridge.protocol.errors import ConnectionFileError, InvalidParams, MediaError

from .sequences import check_writable_folder

__all__ = ["read_json_object", "check_endpoint", "check_connection_folder"]

_TCP = re.compile(r"^tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\[\]]+):(?P<port>\*|\d{1,5})$")
_EXAMPLE = "tcp://127.0.0.1:5581 (or tcp://127.0.0.1:* for any free port, or ipc:///tmp/framebridge.sock)"


def read_json_object(path: Path, flag: str) -> dict[str, Any]:
    """The JSON object in ``path``; a missing file, a folder, bad JSON or a non-object is an :class:`InvalidParams`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidParams(f"{flag} {path}: no such file", fix=f"check the path given to {flag}") from None
    except IsADirectoryError:
        raise InvalidParams(f"{flag} {path} is a folder, not a JSON file", fix=f"give {flag} the JSON file inside it") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidParams(f"{flag} {path} cannot be read ({error.__class__.__name__}: {error})",
                            fix="check the file's permissions and that it is UTF-8 text") from None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise InvalidParams(f"{flag} {path} is not valid JSON ({error})",
                            fix='write one JSON object, e.g. {"strength": 0.6}') from None
    if not isinstance(value, dict):
        raise InvalidParams(f"{flag} {path} holds a JSON {type(value).__name__}, not an object",
                            fix='write one JSON object of names to values, e.g. {"strength": 0.6}')
    return value


def check_endpoint(address: str) -> str:
    """``address`` if it is a ZeroMQ endpoint a server can bind (tcp with host and port, ipc, inproc)."""
    scheme, separator, rest = address.partition("://")
    if separator and scheme in ("ipc", "inproc") and rest:
        return address
    match = _TCP.match(address)
    if match and (match["port"] == "*" or 1 <= int(match["port"]) <= 65535):
        return address
    raise InvalidParams(f"--address {address!r} is not a ZeroMQ endpoint", fix=f"write it as {_EXAMPLE}")


def check_connection_folder(path: Path) -> None:
    """The connection file's folder can be created and written (it holds the signing key)."""
    try:
        check_writable_folder(path.parent, "the connection file's folder", mode=0o700)
    except MediaError as error:
        raise ConnectionFileError(f"cannot write the connection file {path}: {error.message}",
                                  fix=f"pass --connection-file in a folder you can write; {error.fix}") from None
