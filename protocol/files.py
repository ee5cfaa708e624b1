"""Atomic file writes: nothing is ever left half-written where a reader could find it."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, private: bool = False) -> Iterator[Path]:
    """A fresh temporary file beside ``path`` (same suffix) to write to.

    It replaces ``path`` in one rename when the block succeeds and is removed when
    the block raises. Its mode follows the umask (results on a farm stay readable
    by the other hosts' users), or is 0600 when ``private``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(6)}{path.suffix or '.tmp'}")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666))
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
