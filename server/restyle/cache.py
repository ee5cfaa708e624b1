"""A content-addressed, on-disk cache of restyled frames, kept within a size budget.

A key is the SHA-256 of everything a frame's result depends on (see
:func:`cache_key`); an entry is one ``.npy`` file per array (no pickle), each
written atomically. A missing, truncated or corrupt entry is a miss, never an error.
A hit touches the entry's files, so their modification time is the last use; when a
write takes the folder past its budget (``$FRAMEBRIDGE_CACHE_MB``, default 10 GiB),
the least recently used entries are deleted until it is back under 90% of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from framebridge.protocol.files import atomic_path

__all__ = ["CacheEntry", "ResultCache", "cache_entries", "cache_key", "default_cache_budget", "default_cache_dir",
           "evict", "clear_cache"]

DEFAULT_BUDGET_MB = 10 * 1024


def default_cache_dir() -> Path:
    """``$FRAMEBRIDGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/framebridge`` (``~/.cache/framebridge``)."""
    explicit = os.environ.get("FRAMEBRIDGE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "framebridge"


def default_cache_budget() -> int:
    """``$FRAMEBRIDGE_CACHE_MB`` (MiB), else 10 GiB, in bytes."""
    explicit = os.environ.get("FRAMEBRIDGE_CACHE_MB")
    return int(float(explicit) * (1 << 20)) if explicit else DEFAULT_BUDGET_MB << 20


@dataclass(frozen=True)
class CacheEntry:
    """The files of one cached result, their size and when it was last used."""

    op: str
    key: str
    files: tuple[Path, ...]
    nbytes: int
    last_used: float


def cache_entries(root: Path) -> list[CacheEntry]:
    """Every entry under a cache folder, least recently used first."""
    grouped: dict[tuple[str, str], list[tuple[Path, os.stat_result]]] = {}
    for path in Path(root).glob("*/??/*.npy"):
        if path.name.startswith("."):
            continue  # a file still being written (see atomic_path)
        try:
            grouped.setdefault((path.parent.parent.name, path.name.split(".", 1)[0]), []).append((path, path.stat()))
        except FileNotFoundError:
            continue
    entries = [CacheEntry(op, key, tuple(path for path, _ in files), sum(info.st_size for _, info in files),
                          max(info.st_mtime for _, info in files)) for (op, key), files in grouped.items()]
    return sorted(entries, key=lambda entry: entry.last_used)


def evict(root: Path, target_bytes: int) -> int:
    """Delete least recently used entries until the folder holds at most ``target_bytes``; the bytes left."""
    entries = cache_entries(root)
    total = sum(entry.nbytes for entry in entries)
    for entry in entries:
        if total <= target_bytes:
            break
        for path in entry.files:
            path.unlink(missing_ok=True)
        total -= entry.nbytes
    return total


def clear_cache(root: Path) -> tuple[int, int]:
    """Delete every entry; the number of entries and bytes freed."""
    entries = cache_entries(root)
    evict(root, 0)
    return len(entries), sum(entry.nbytes for entry in entries)


def cache_key(parts: Mapping[str, Any]) -> str:
    """A stable key for JSON-able parts (sorted keys, so order never matters)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class ResultCache:
    """Named arrays by key, one ``root/<op>/<key[:2]>/<key>.<name>.npy`` file each, memory-mapped on a hit."""

    def __init__(self, root: Path, op: str, budget_bytes: int | None = None):
        self.root = Path(root)
        self.folder = self.root / op
        self.budget = default_cache_budget() if budget_bytes is None else budget_bytes
        self._usage: int | None = None
        self._lock = threading.Lock()  # entries may be written from several threads

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
        for name in names:
            with contextlib.suppress(OSError):
                os.utime(self._path(key, name))  # the last use, for least-recently-used eviction
        return arrays

    def put(self, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        with self._lock:  # one writer at a time, so the bytes counted are the bytes written
            written = 0
            for name, array in arrays.items():
                with atomic_path(self._path(key, name)) as temporary:
                    np.save(temporary, np.ascontiguousarray(array), allow_pickle=False)
                written += self._path(key, name).stat().st_size
            if self._usage is None:
                self._usage = sum(entry.nbytes for entry in cache_entries(self.root))
            else:
                self._usage += written
            if self._usage > self.budget:
                self._usage = evict(self.root, int(self.budget * 0.9))
