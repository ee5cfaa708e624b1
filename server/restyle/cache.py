"""A content-addressed, on-disk cache of restyled frames.

A key is the SHA-256 of everything a frame's result depends on (see
:func:`cache_key`); an entry is one ``.npy`` file per array (no pickle), each
written atomically. A missing, truncated or corrupt entry is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from framebridge.protocol.files import atomic_path

__all__ = ["ResultCache", "cache_key", "default_cache_dir"]


def default_cache_dir() -> Path:
    """``$FRAMEBRIDGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/framebridge`` (``~/.cache/framebridge``)."""
    explicit = os.environ.get("FRAMEBRIDGE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "framebridge"


def cache_key(parts: Mapping[str, Any]) -> str:
    """A stable key for JSON-able parts (sorted keys, so order never matters)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class ResultCache:
    """Named arrays by key, one ``root/<op>/<key[:2]>/<key>.<name>.npy`` file each, memory-mapped on a hit."""

    def __init__(self, root: Path, op: str):
        self.folder = Path(root) / op

    def _path(self, key: str, name: str) -> Path:
        return self.folder / key[:2] / f"{key}.{name}.npy"

    def get(self, key: str, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
        """Every named array of the entry, or None if any is missing or unreadable (a miss)."""
        arrays = {}
        for name in names:
            path = self._path(key, name)
            try:
                arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)
            except FileNotFoundError:
                return None
            except (OSError, ValueError, EOFError):
                path.unlink(missing_ok=True)
                return None
        return arrays

    def put(self, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        for name, array in arrays.items():
            with atomic_path(self._path(key, name)) as temporary:
                np.save(temporary, np.ascontiguousarray(array), allow_pickle=False)
