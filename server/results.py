"""Result frames a job keeps until its client acknowledges them.

Kept in memory up to a byte budget, spilled to a spool folder beyond it, so a
client that disconnects can reconnect and fetch every result it missed without
the server's memory growing with the length of the shot.
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

__all__ = ["StoredResult", "ResultStore"]


@dataclass
class StoredResult:
    frame: int
    described: list[tuple[BufferDescriptor, np.ndarray | None]]
    meta: dict[str, Any]
    nbytes: int
    spilled: bool = False


class ResultStore:
    """Unacknowledged results of one job, by frame number."""

    def __init__(self, spool_dir: Path, memory_budget: int):
        self.spool_dir = spool_dir
        self.memory_budget = memory_budget
        self._results: dict[int, StoredResult] = {}
        self._in_memory = 0
        self._lock = threading.Lock()

    def put(self, frame: int, described: list[tuple[BufferDescriptor, np.ndarray]], meta: dict[str, Any]) -> None:
        nbytes = sum(descriptor.nbytes for descriptor, _ in described)
        with self._lock:
            self._remove(frame)
            self._results[frame] = StoredResult(frame, list(described), meta, nbytes)
            self._in_memory += nbytes
            for stored in self._results.values():
                if self._in_memory <= self.memory_budget:
                    break
                if not stored.spilled:
                    self._spill(stored)

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
            self._in_memory -= stored.nbytes

    def frames(self) -> list[int]:
        with self._lock:
            return sorted(self._results)

    def clear(self) -> None:
        with self._lock:
            self._results.clear()
            self._in_memory = 0
        shutil.rmtree(self.spool_dir, ignore_errors=True)

    def _spill(self, stored: StoredResult) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        for index, (descriptor, array) in enumerate(stored.described):
            with atomic_path(self._path(stored.frame, index)) as temporary:
                np.ascontiguousarray(array).tofile(temporary)
            stored.described[index] = (descriptor, None)
        stored.spilled = True
        self._in_memory -= stored.nbytes

    def _path(self, frame: int, index: int) -> Path:
        return self.spool_dir / f"{frame}.{index}.raw"
