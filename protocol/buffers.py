"""Frame buffers on the wire: descriptors, the dtype whitelist, limits, digests.

A buffer travels as one raw, C-contiguous, little-endian ZeroMQ frame. Its
descriptor ``{name, dtype, shape, frame, digest}`` sits in the signed header, so
a changed byte is caught by the XXH3-128 digest. On an integrity-protected link
(:mod:`.link`) the digest may be empty: the link itself keeps the bytes as sent.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xxhash

from .errors import DigestMismatch, DtypeNotAllowed, FrameTooLarge, MalformedMessage, ShapeMismatch

__all__ = ["ALLOWED_DTYPES", "BufferDescriptor", "Limits", "digest", "describe", "decode_buffer"]

ALLOWED_DTYPES: dict[str, np.dtype] = {
    "uint8": np.dtype("<u1"),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
    "float32": np.dtype("<f4"),
}
# A name may become part of a file name ({name} in an output pattern): no separators, no leading dot or dash.
_NAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_. -]{0,126}[A-Za-z0-9_])?$")


@dataclass(frozen=True)
class Limits:
    """Bounds every peer enforces on what it receives."""

    max_message_bytes: int = 1 << 30
    max_header_bytes: int = 1 << 20
    max_buffers: int = 64
    max_width: int = 16384
    max_height: int = 16384
    max_channels: int = 16
    max_samples: int = 48000 * 60 * 30
    credit_window: int = 8

    def to_wire(self) -> dict[str, int]:
        return dict(self.__dict__)


def digest(data: Any) -> str:
    """XXH3-128 of a buffer's bytes as 32 lowercase hex digits."""
    return xxhash.xxh3_128_hexdigest(memoryview(data).cast("B"))


@dataclass(frozen=True)
class BufferDescriptor:
    """What a raw buffer frame holds."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    frame: int | None
    digest: str = field(compare=False)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * ALLOWED_DTYPES[self.dtype].itemsize

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape), "frame": self.frame, "digest": self.digest}

    @classmethod
    def from_wire(cls, raw: Any, limits: Limits) -> BufferDescriptor:
        """Parse and bound-check a descriptor from an untrusted header."""
        if not isinstance(raw, dict):
            raise MalformedMessage("a buffer descriptor must be a map")
        name, dtype, shape, frame, checksum = (raw.get(k) for k in ("name", "dtype", "shape", "frame", "digest"))
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise MalformedMessage(f"buffer name {str(name)[:64]!r} is not 1-128 characters of [A-Za-z0-9_. -] "
                                   "starting and ending with a letter, digit or underscore")
        if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
            raise DtypeNotAllowed(
                f"buffer {name!r} has dtype {dtype!r}",
                fix=f"send one of {', '.join(ALLOWED_DTYPES)}",
                details={"buffer": name, "dtype": dtype},
            )
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise MalformedMessage(f"buffer {name!r} shape must be a list of non-negative integers")
        if frame is not None and type(frame) is not int:
            raise MalformedMessage(f"buffer {name!r} frame must be an integer or nil")
        if not isinstance(checksum, str) or len(checksum) not in (0, 32):
            raise MalformedMessage(f"buffer {name!r} digest must be 32 hex digits of XXH3-128 (or empty on a protected link)")
        check_shape(name, dtype, tuple(shape), limits)
        return cls(name, dtype, tuple(shape), frame, checksum)


def check_shape(name: str, dtype: str, shape: tuple[int, ...], limits: Limits) -> None:
    """Images are (H, W) or (H, W, C); 1-D buffers are float32 samples (audio)."""
    if len(shape) == 1:
        if dtype != "float32":
            raise ShapeMismatch(f"1-D buffer {name!r} must be float32 samples, not {dtype}")
        if shape[0] > limits.max_samples:
            raise FrameTooLarge(f"buffer {name!r} has {shape[0]} samples, the limit is {limits.max_samples}")
        return
    if len(shape) not in (2, 3):
        raise ShapeMismatch(f"buffer {name!r} has shape {shape}; images are (height, width) or (height, width, channels)")
    height, width = shape[:2]
    channels = shape[2] if len(shape) == 3 else 1
    if height > limits.max_height or width > limits.max_width or channels > limits.max_channels:
        raise FrameTooLarge(
            f"buffer {name!r} is {width}x{height}x{channels}; "
            f"the limit is {limits.max_width}x{limits.max_height}x{limits.max_channels}",
            details={"buffer": name, "shape": list(shape)},
        )


def describe(name: str, array: np.ndarray, frame: int | None, limits: Limits | None = None, *,
             with_digest: bool = True) -> tuple[BufferDescriptor, np.ndarray]:
    """The descriptor for an array and the contiguous little-endian array to send (digest empty without ``with_digest``)."""
    dtype = np.dtype(array.dtype)
    if dtype.name not in ALLOWED_DTYPES:
        raise DtypeNotAllowed(f"buffer {name!r} has dtype {dtype.name}", fix=f"convert to one of {', '.join(ALLOWED_DTYPES)}")
    wire = np.ascontiguousarray(array, dtype=ALLOWED_DTYPES[dtype.name])
    check_shape(name, dtype.name, wire.shape, limits or Limits())
    return BufferDescriptor(name, dtype.name, tuple(int(n) for n in wire.shape), frame, digest(wire) if with_digest else ""), wire


def decode_buffer(descriptor: BufferDescriptor, data: Any, *, verify: bool = True) -> np.ndarray:
    """A read-only array view over a received frame, after size and digest checks (an empty digest is not checked here)."""
    view = memoryview(data).cast("B")
    if view.nbytes != descriptor.nbytes:
        raise ShapeMismatch(
            f"buffer {descriptor.name!r} has {view.nbytes} bytes, but {descriptor.dtype} {list(descriptor.shape)} needs {descriptor.nbytes}",
            details={"buffer": descriptor.name},
        )
    if verify and descriptor.digest and digest(view) != descriptor.digest:
        raise DigestMismatch(f"buffer {descriptor.name!r} does not match its digest", details={"buffer": descriptor.name})
    array = np.frombuffer(view, dtype=ALLOWED_DTYPES[descriptor.dtype]).reshape(descriptor.shape)
    array.flags.writeable = False
    return array
