"""What a headless run read and wrote, so re-running an unchanged shot decodes and writes nothing.

A JSON file beside the outputs (``.framebridge-run-<digest of the output pattern>.json``)
records the request (op, params, shot, backend, output options, versions, the
op's own plan fingerprint) and, per frame, the identity of its input file (size,
mtime_ns, inode: a file rewritten in place or replaced gets a new one), the
digest of its result buffers, the identity of every output file written, and the
result's meta. On the next run with the same request:

- a frame whose input and outputs are unchanged is up to date: it is neither
  read, computed nor written (when the op chains frames, as temporal restyle
  does, only if every frame is: otherwise the whole chain runs and the op's
  cache decides what is recomputed);
- a result whose digest equals the recorded one, with its outputs unchanged on
  disk, is not written again;
- the shot's depth range scanned over every input is reused while no input changed.

The file is an optimisation only: a missing, unreadable or foreign one means a
full run, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import xxhash

from framebridge.protocol.files import atomic_path

from . import __version__

__all__ = ["RunManifest", "file_identity", "result_digest"]

FORMAT = 1


def file_identity(path: Path) -> list[int] | None:
    """``[size, mtime_ns, inode]`` of a file, or None when it is missing."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return [status.st_size, status.st_mtime_ns, status.st_ino]


def result_digest(buffers: Mapping[str, Any]) -> str:
    """A digest of a result's buffers: names, dtypes, shapes and bytes."""
    digest = xxhash.xxh3_128()
    for name in sorted(buffers):
        array = np.ascontiguousarray(buffers[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _request_digest(request: Mapping[str, Any]) -> str:
    text = json.dumps({**request, "framebridge": __version__}, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Frame:
    input: list[int]
    result: str
    outputs: dict[str, list[int]]
    meta: dict[str, Any]


class RunManifest:
    """The record of one output pattern's runs; see the module docstring."""

    def __init__(self, folder: Path, output_pattern: str):
        name = hashlib.sha256(output_pattern.encode()).hexdigest()[:16]
        self.path = folder / f".framebridge-run-{name}.json"
        self.request = ""
        self.frames: dict[int, _Frame] = {}
        self.depth_range: dict[str, Any] = {}
        self._dirty = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") == FORMAT:
                self.request = str(data.get("request", ""))
                self.depth_range = dict(data.get("depth_range") or {})
                self.frames = {int(number): _Frame(list(entry["input"]), str(entry["result"]), dict(entry["outputs"]),
                                                   dict(entry.get("meta") or {}))
                               for number, entry in data.get("frames", {}).items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            self.frames, self.depth_range, self.request = {}, {}, ""

    def use_request(self, request: Mapping[str, Any]) -> None:
        """Start from this request: frames recorded for another one no longer count."""
        digest = _request_digest(request)
        if digest != self.request:
            self.request, self.frames, self._dirty = digest, {}, True

    def known_depth_range(self, inputs: Iterable[list[int] | None]) -> tuple[bool, Any]:
        """(known, range) of the depth range scanned over exactly these input identities."""
        key = _identities_key(inputs)
        return (self.depth_range.get("inputs") == key, self.depth_range.get("value"))

    def remember_depth_range(self, inputs: Iterable[list[int] | None], value: Any) -> None:
        self.depth_range, self._dirty = {"inputs": _identities_key(inputs), "value": value}, True

    def up_to_date(self, number: int, input_identity: list[int] | None) -> bool:
        """The frame's input is the one recorded and every output it wrote is still there, unchanged."""
        entry = self.frames.get(number)
        return (entry is not None and input_identity is not None and entry.input == input_identity
                and self.outputs_intact(number))

    def outputs_intact(self, number: int) -> bool:
        entry = self.frames.get(number)
        return entry is not None and bool(entry.outputs) and all(
            file_identity(Path(path)) == identity for path, identity in entry.outputs.items())

    def unchanged_result(self, number: int, digest: str) -> bool:
        """The result is the one recorded and its files are intact: nothing needs writing."""
        entry = self.frames.get(number)
        return entry is not None and entry.result == digest and self.outputs_intact(number)

    def outputs(self, number: int) -> list[Path]:
        return [Path(path) for path in self.frames[number].outputs]

    def meta(self, number: int) -> dict[str, Any]:
        return dict(self.frames[number].meta)

    def record(self, number: int, input_identity: list[int] | None, digest: str, written: list[Path],
               meta: Mapping[str, Any]) -> None:
        outputs = {str(path): file_identity(path) for path in written}
        if input_identity is None or any(identity is None for identity in outputs.values()):
            self.forget(number)
            return
        self.frames[number] = _Frame(input_identity, digest, outputs, _json_safe(meta))
        self._dirty = True

    def forget(self, number: int) -> None:
        if self.frames.pop(number, None) is not None:
            self._dirty = True

    def save(self) -> None:
        """Write the record atomically, if anything changed; a folder that cannot be written is left alone."""
        if not self._dirty:
            return
        data = {"format": FORMAT, "request": self.request, "depth_range": self.depth_range,
                "frames": {str(number): {"input": entry.input, "result": entry.result, "outputs": entry.outputs,
                                         "meta": entry.meta}
                           for number, entry in sorted(self.frames.items())}}
        try:
            with atomic_path(self.path) as temporary:
                temporary.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        except OSError:
            return
        self._dirty = False


def _identities_key(inputs: Iterable[list[int] | None]) -> str:
    return hashlib.sha256(json.dumps(list(inputs)).encode()).hexdigest()


def _json_safe(meta: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(meta), default=repr))
