"""Result frames a job keeps until its client acknowledges them.

Kept in memory up to one byte budget shared by every job of the server, spilled
to a spool folder beyond it, so a client that disconnects can reconnect and
fetch every result it missed without the server's memory growing with the
length of the shot or the number of jobs.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framebridge.protocol.buffers import ALLOWED_DTYPES, BufferDescriptor
from framebridge.protocol.files import atomic_path

__all__ = ["RetentionBudget", "StoredResult", "ResultStore"]


@dataclass
class StoredResult:
    frame: int
    described: list[tuple[BufferDescriptor, np.ndarray | None]]
    meta: dict[str, Any]
    nbytes: int
    spilled: bool = False


class RetentionBudget:
    """Bytes of results that all jobs together may keep in memory."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def reserve(self, nbytes: int) -> bool:
        with self._lock:
            if self.used + nbytes > self.limit:
                return False
            self.used += nbytes
            return True

    def release(self, nbytes: int) -> None:
        with self._lock:
            self.used -= nbytes


class ResultStore:
    """Unacknowledged results of one job, by frame number; memory is drawn from a server-wide budget."""

    def __init__(self, spool_dir: Path, budget: RetentionBudget):
        self.spool_dir = spool_dir
        self.budget = budget
        self._results: dict[int, StoredResult] = {}
        self._lock = threading.Lock()

    def put(self, frame: int, described: list[tuple[BufferDescriptor, np.ndarray]], meta: dict[str, Any]) -> None:
        nbytes = sum(descriptor.nbytes for descriptor, _ in described)
        with self._lock:
            self._remove(frame)
            stored = StoredResult(frame, list(described), meta, nbytes)
            if not self.budget.reserve(nbytes):
                self._spill(stored)
            self._results[frame] = stored

    def get(self, frame: int) -> tuple[list[tuple[BufferDescriptor, np.ndarray]], dict[str, Any]] | None:
        with self._lock:
            stored = self._results.get(frame)
            if stored is None:
                return None
            if not stored.spilled:
                return list(stored.described), stored.meta  # type: ignore[arg-type]
            described = []
            for index, (descriptor, _) in enumerate(stored.described):
                raw = np.fromfile(self._path(frame, index), dtype=ALLOWED_DTYPES[descriptor.dtype])
                described.append((descriptor, raw.reshape(descriptor.shape)))
            return described, stored.meta

    def drop(self, frames: list[int]) -> None:
        with self._lock:
            for frame in frames:
                self._remove(frame)

    def _remove(self, frame: int) -> None:
        """Forget one frame's result, in memory or on disk (the lock is held)."""
        stored = self._results.pop(frame, None)
        if stored is None:
            return
        if stored.spilled:
            for index in range(len(stored.described)):
                self._path(frame, index).unlink(missing_ok=True)
        else:
            self.budget.release(stored.nbytes)

    def frames(self) -> list[int]:
        with self._lock:
            return sorted(self._results)

    def clear(self) -> None:
        with self._lock:
            for frame in list(self._results):
                self._remove(frame)
        shutil.rmtree(self.spool_dir, ignore_errors=True)

    def _spill(self, stored: StoredResult) -> None:
        """Write a result that found no room in the budget to the spool (it never counted against the budget)."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        for index, (descriptor, array) in enumerate(stored.described):
            with atomic_path(self._path(stored.frame, index)) as temporary:
                np.ascontiguousarray(array).tofile(temporary)
            stored.described[index] = (descriptor, None)
        stored.spilled = True

    def _path(self, frame: int, index: int) -> Path:
        return self.spool_dir / f"{frame}.{index}.raw"
