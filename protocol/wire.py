"""The v1 wire format: signed multipart ZeroMQ messages with raw buffer frames.

    [identity]            ROUTER side only, added and removed by ZeroMQ
    tag                   b"framebridge:1" (the major version)
    signature             hex HMAC-SHA256 over tag + header, with the connection key
    header                msgpack map: v, type, id, time, session, job, reply_to, body, buffers
    buffer 0..n-1         raw little-endian bytes, described by header["buffers"][i]

Checks on receipt, in order: size, signature, msgpack (bounded), version, type,
replay (id seen, or time outside the window), buffer descriptors, then each
buffer's length and digest. Nothing is ever unpickled. On an integrity-protected
link (:mod:`.link`) a buffer may come without a digest, and a peer speaking 1.1
or later is sent none.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence

import msgpack
import numpy as np

from .buffers import BufferDescriptor, Limits, decode_buffer, describe
from .errors import (
    FrameBridgeError,
    MalformedMessage,
    MessageTooLarge,
    SignatureInvalid,
    UnknownMessageType,
    VersionMismatch,
)
from .link import DIGESTS_OPTIONAL_SINCE
from .messages import REQUESTS, Body, ErrorReply, bounded_error
from .replay import ReplayGuard
from .version import PROTOCOL_MAJOR, PROTOCOL_MINOR, PROTOCOL_VERSION

__all__ = ["TAG", "Envelope", "Codec", "ReplayGuard", "new_id"]

TAG = f"framebridge:{PROTOCOL_MAJOR}".encode()
ZERO_COPY_THRESHOLD = 64 * 1024
MAX_DEPTH = 32
MAX_ECHOED_ID = 128


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Envelope:
    """A decoded message: its body, ids and named arrays."""

    body: Body
    id: str = field(default_factory=new_id)
    session: str = ""
    job: str | None = None
    reply_to: str | None = None
    time: float = field(default_factory=time.time)
    buffers: dict[str, np.ndarray] = field(default_factory=dict)
    descriptors: tuple[BufferDescriptor, ...] = ()
    version: tuple[int, int] = (PROTOCOL_MAJOR, PROTOCOL_MINOR)

    @property
    def type(self) -> str:
        return self.body.TYPE


class Codec:
    """Signs and encodes outgoing messages; verifies and decodes incoming ones.

    ``incoming`` is the registry of body types this side accepts: the server
    decodes requests, the client decodes replies. ``integrity_protected`` says
    the socket's link keeps bytes as sent (:mod:`.link`): buffers without a
    digest are accepted, and none are computed for a peer that accepts the same.
    """

    def __init__(self, key: bytes, *, limits: Limits | None = None, incoming: dict[str, type[Body]] | None = None,
                 session: str | None = None, replay_window: float = 300.0, integrity_protected: bool = False):
        if not key:
            raise ValueError("a signing key is required")
        self.key = key
        self.limits = limits or Limits()
        self.incoming = REQUESTS if incoming is None else incoming
        self.session = session or new_id()
        self.replays = ReplayGuard(replay_window)
        self.integrity_protected = integrity_protected
        self.peer_version: tuple[int, int] | None = None

    def sends_digests(self, peer_version: tuple[int, int] | None = None) -> bool:
        """Whether buffers sent to a peer of ``peer_version`` (default: the last one heard) need digests."""
        version = peer_version or self.peer_version
        return not (self.integrity_protected and version is not None and tuple(version) >= DIGESTS_OPTIONAL_SINCE)

    def describe(self, name: str, array: np.ndarray, frame: int | None,
                 peer_version: tuple[int, int] | None = None) -> tuple[BufferDescriptor, np.ndarray]:
        """A buffer ready for :meth:`encode_described`, with a digest only where the link and peer need one."""
        return describe(name, array, frame, self.limits, with_digest=self.sends_digests(peer_version))

    def sign(self, tag: bytes, header: bytes) -> bytes:
        mac = hmac.new(self.key, tag, hashlib.sha256)
        mac.update(header)
        return mac.hexdigest().encode()

    def encode(self, body: Body, *, job: str | None = None, reply_to: str | None = None,
               buffers: Sequence[tuple[str, np.ndarray, int | None]] = (), message_id: str | None = None) -> list[Any]:
        """Frames for one message; buffers are ``(name, array, frame_number)``."""
        described = [self.describe(name, array, frame) for name, array, frame in buffers]
        return self.encode_described(body, job=job, reply_to=reply_to, described=described, message_id=message_id)

    def encode_described(self, body: Body, *, job: str | None = None, reply_to: str | None = None,
                         described: Sequence[tuple[BufferDescriptor, np.ndarray]] = (),
                         message_id: str | None = None) -> list[Any]:
        """Like :meth:`encode` for buffers whose descriptors are already known."""
        header = msgpack.packb(
            {
                "v": [PROTOCOL_MAJOR, PROTOCOL_MINOR],
                "type": body.TYPE,
                "id": message_id or new_id(),
                "time": time.time(),
                "session": self.session,
                "job": job,
                "reply_to": reply_to,
                "body": body.to_wire(),
                "buffers": [descriptor.to_wire() for descriptor, _ in described],
            },
            use_bin_type=True,
        )
        return [TAG, self.sign(TAG, header), header, *(array for _, array in described)]

    def error(self, error: FrameBridgeError, *, job: str | None = None, reply_to: str | None = None) -> list[Any]:
        return self.encode(ErrorReply(**bounded_error(error.to_wire())), job=job, reply_to=reply_to)

    def peek(self, frames: Sequence[Any]) -> dict[str, Any]:
        """The ``id`` and ``job`` of a message that failed to decode, wherever its header can be read; else empty.

        Used only to address the error reply (``reply_to``) to the same peer, so
        the header is read under the same bounds whether or not it is signed.
        """
        try:
            header = _bytes(frames[2])
            if len(header) > self.limits.max_header_bytes:
                return {}
            raw = self._unpack(header)
        except Exception:
            return {}
        return {name: value if isinstance(value, str) and len(value) <= MAX_ECHOED_ID else None
                for name, value in (("job", raw.get("job")), ("reply_to", raw.get("id")))}

    def decode(self, frames: Sequence[Any], *, verify_digests: bool = True) -> Envelope:
        """Verify and decode one message (without the ROUTER identity frame)."""
        limits = self.limits
        if len(frames) < 3:
            raise MalformedMessage(f"a message has at least 3 frames (tag, signature, header), got {len(frames)}")
        size = sum(_nbytes(frame) for frame in frames)
        if size > limits.max_message_bytes:
            raise MessageTooLarge(f"message of {size} bytes exceeds the limit of {limits.max_message_bytes}",
                                  fix="send fewer or smaller buffers per message")
        tag, signature, header = (_bytes(frame) for frame in frames[:3])
        if tag != TAG:
            if tag.startswith(b"framebridge:"):
                raise VersionMismatch(
                    f"peer speaks protocol {tag.decode(errors='replace')}, this side speaks {PROTOCOL_VERSION}",
                    fix="install matching major versions of the FrameBridge server and plugin",
                )
            raise MalformedMessage("the first frame is not a FrameBridge protocol tag")
        if len(header) > limits.max_header_bytes:
            raise MessageTooLarge(f"header of {len(header)} bytes exceeds the limit of {limits.max_header_bytes}")
        if not signature:
            raise SignatureInvalid("the message is not signed", fix="use the key from the server's connection file")
        if not hmac.compare_digest(self.sign(tag, header), signature):
            raise SignatureInvalid("the message signature does not match", fix="use the key from the server's connection file")
        raw = self._unpack(header)
        version = raw.get("v")
        if not (isinstance(version, list) and len(version) == 2 and all(type(n) is int for n in version)):
            raise MalformedMessage("header field 'v' must be [major, minor]")
        if version[0] != PROTOCOL_MAJOR:
            raise VersionMismatch(f"peer speaks protocol {version[0]}.{version[1]}, this side speaks {PROTOCOL_VERSION}",
                                  fix="install matching major versions of the FrameBridge server and plugin")
        message_id, sent_at = raw.get("id"), raw.get("time")
        if (not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_ECHOED_ID
                or type(sent_at) not in (int, float) or not math.isfinite(sent_at)):
            raise MalformedMessage(f"header needs a string 'id' of 1-{MAX_ECHOED_ID} characters and a finite numeric 'time'")
        kind = raw.get("type")
        body_type = self.incoming.get(kind) if isinstance(kind, str) else None
        if body_type is None:
            raise UnknownMessageType(f"unknown message type {kind!r}", details={"allowed": sorted(self.incoming)})
        self.replays.check(message_id, float(sent_at))
        job, reply_to, session = raw.get("job"), raw.get("reply_to"), raw.get("session", "")
        for name, value in (("job", job), ("reply_to", reply_to)):
            if value is not None and not isinstance(value, str):
                raise MalformedMessage(f"header field {name!r} must be a string or nil")
        raw_descriptors = raw.get("buffers", [])
        if not isinstance(raw_descriptors, list):
            raise MalformedMessage("header field 'buffers' must be a list")
        if len(raw_descriptors) > limits.max_buffers:
            raise MessageTooLarge(f"{len(raw_descriptors)} buffers exceed the limit of {limits.max_buffers} per message")
        if len(raw_descriptors) != len(frames) - 3:
            raise MalformedMessage(f"header describes {len(raw_descriptors)} buffers but {len(frames) - 3} followed")
        descriptors = tuple(BufferDescriptor.from_wire(d, limits) for d in raw_descriptors)
        if len({d.name for d in descriptors}) != len(descriptors):
            raise MalformedMessage("buffer names within a message must be unique")
        if not self.integrity_protected and any(not d.digest for d in descriptors):
            raise MalformedMessage("buffers without a digest arrived over a link that is not loopback or CURVE",
                                   fix="connect through a loopback address or with the server's CURVE key")
        body = body_type.from_wire(raw.get("body", {}))
        buffers = {d.name: decode_buffer(d, _buffer(frame), verify=verify_digests) for d, frame in zip(descriptors, frames[3:])}
        self.peer_version = (version[0], version[1])
        return Envelope(body=body, id=message_id, session=str(session), job=job, reply_to=reply_to,
                        time=float(sent_at), buffers=buffers, descriptors=descriptors, version=self.peer_version)

    def _unpack(self, header: bytes) -> dict[str, Any]:
        limit = self.limits.max_header_bytes
        try:
            raw = msgpack.unpackb(
                header, raw=False, strict_map_key=True, use_list=True, object_pairs_hook=_unique_keys,
                max_str_len=limit, max_bin_len=0, max_array_len=100_000, max_map_len=10_000, max_ext_len=0,
            )
        except MalformedMessage:
            raise
        except Exception as error:
            raise MalformedMessage(f"the header is not valid bounded msgpack ({type(error).__name__})") from None
        if not isinstance(raw, dict):
            raise MalformedMessage("the header must be a msgpack map")
        _check_depth(raw, MAX_DEPTH)
        return raw


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A msgpack map as a dict, refusing a repeated key (which could otherwise override a checked field)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedMessage(f"a msgpack map repeats the key {str(key)[:64]!r}")
        result[key] = value
    return result


def _check_depth(header: dict[str, Any], limit: int) -> None:
    """Refuse maps and lists nested deeper than ``limit`` (the header itself is level 1)."""
    pending: list[tuple[Any, int]] = [(header, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > limit:
            raise MalformedMessage(f"the header nests maps and lists more than {limit} deep")
        children = value.values() if isinstance(value, dict) else value
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _bytes(frame: Any) -> bytes:
    return frame.bytes if hasattr(frame, "bytes") else bytes(frame)


def _buffer(frame: Any) -> Any:
    return frame.buffer if hasattr(frame, "buffer") else frame


def _nbytes(frame: Any) -> int:
    return len(frame.buffer) if hasattr(frame, "buffer") else memoryview(frame).nbytes
