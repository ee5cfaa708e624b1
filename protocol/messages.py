"""Message bodies: one frozen dataclass per message type, checked field by field.

Requests go client -> server, replies and events server -> client. The envelope
(ids, version, buffers) is :class:`framebridge.protocol.wire.Envelope`; these are
its ``body``. Unknown body fields are ignored so that minor versions can add them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from .errors import MalformedMessage

__all__ = [
    "Body",
    "Ping",
    "Pong",
    "CapabilitiesRequest",
    "Capabilities",
    "Submit",
    "Accepted",
    "FrameIn",
    "Progress",
    "Result",
    "Done",
    "ErrorReply",
    "Cancel",
    "StatusRequest",
    "Status",
    "Ack",
    "group_failures",
    "expand_failures",
    "REQUESTS",
    "REPLIES",
]


class Body:
    """Base of all message bodies: ``to_wire`` and a type-checked ``from_wire``."""

    TYPE: ClassVar[str]

    def to_wire(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_wire(cls, raw: Any) -> Body:
        if not isinstance(raw, dict):
            raise MalformedMessage(f"the body of a {cls.TYPE!r} message must be a map")
        hints = _hints(cls)
        values = {}
        for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
            if spec.name not in raw:
                if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                    raise MalformedMessage(f"a {cls.TYPE!r} message needs the field {spec.name!r}")
                continue
            value = raw[spec.name]
            if not _matches(value, hints[spec.name]):
                raise MalformedMessage(f"field {spec.name!r} of a {cls.TYPE!r} message has the wrong type ({type(value).__name__})")
            values[spec.name] = value
        return cls(**values)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if hint is float:
        return type(value) in (int, float)
    if hint is int:
        return type(value) is int
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint) or (Any, Any)
        return isinstance(value, dict) and all(_matches(k, key) and _matches(v, item) for k, v in value.items())
    return isinstance(value, origin or hint)


@dataclass(frozen=True)
class Ping(Body):
    TYPE: ClassVar[str] = "ping"


@dataclass(frozen=True)
class Pong(Body):
    TYPE: ClassVar[str] = "pong"
    server_version: str
    protocol_version: str
    time: float


@dataclass(frozen=True)
class CapabilitiesRequest(Body):
    TYPE: ClassVar[str] = "capabilities"


@dataclass(frozen=True)
class Capabilities(Body):
    """Ops with their params and backends, versions, limits, loaded models."""

    TYPE: ClassVar[str] = "capabilities"
    server_version: str
    protocol_version: str
    ops: dict[str, Any]
    limits: dict[str, int]
    models: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Submit(Body):
    """Open a job; the envelope's ``job`` is the client-chosen job id."""

    TYPE: ClassVar[str] = "submit"
    op: str
    frames: list[int]
    params: dict[str, Any] = field(default_factory=dict)
    shot: dict[str, Any] = field(default_factory=dict)
    backend: str | None = None


@dataclass(frozen=True)
class Accepted(Body):
    TYPE: ClassVar[str] = "accepted"
    credit: int
    total: int
    backend: str


@dataclass(frozen=True)
class FrameIn(Body):
    """One input frame: its buffers follow the header; or, with ``error``, why the host could not produce it."""

    TYPE: ClassVar[str] = "frame"
    frame: int
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class Progress(Body):
    """Counts so far; ``credit`` is how many more frames the client may send now."""

    TYPE: ClassVar[str] = "progress"
    received: int
    done: int
    failed: int
    total: int
    credit: int
    stage: str
    eta: float | None = None


@dataclass(frozen=True)
class Result(Body):
    """One result frame: its buffers follow the header."""

    TYPE: ClassVar[str] = "result"
    frame: int
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Done(Body):
    """A job ended; ``failed`` groups the failed frames by error (see :func:`group_failures`)."""

    TYPE: ClassVar[str] = "done"
    state: str
    frames: list[int]
    failed: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)  # 1.1: [{"frame": n, "message": text}] for frames done with a caveat


@dataclass(frozen=True)
class ErrorReply(Body):
    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    fix: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cancel(Body):
    TYPE: ClassVar[str] = "cancel"


@dataclass(frozen=True)
class StatusRequest(Body):
    """Ask for a job's state; ``resend`` re-streams every result not yet acknowledged."""

    TYPE: ClassVar[str] = "status"
    resend: bool = False


@dataclass(frozen=True)
class Status(Body):
    TYPE: ClassVar[str] = "status"
    op: str
    state: str
    frames: list[int]
    received: list[int]
    done: list[int]
    failed: list[dict[str, Any]]
    credit: int


@dataclass(frozen=True)
class Ack(Body):
    """The client holds these result frames; the server may drop its copies."""

    TYPE: ClassVar[str] = "ack"
    frames: list[int]


MAX_FAILURE_GROUPS = 256


def group_failures(failed: Mapping[int, Any]) -> list[dict[str, Any]]:
    """``{frame: error}`` as ``[{"frames": [...], "error": body}]``, one entry per distinct error.

    A job-level failure names every remaining frame with one error, so it travels
    once. Past :data:`MAX_FAILURE_GROUPS` distinct errors, further frames are grouped
    by error code with a summary message, so a message stays small however many
    frames failed in their own way.
    """
    groups: dict[str, dict[str, Any]] = {}
    for frame, error in sorted(failed.items()):
        body = error.to_wire() if hasattr(error, "to_wire") else dict(error)
        key = json.dumps(body, sort_keys=True, default=str)
        if key not in groups and len(groups) >= MAX_FAILURE_GROUPS:
            code = str(body.get("code", "error"))
            key = f"summary:{code}"
            body = {"code": code, "message": f"frame failed with {code} (one of many such errors; the first are listed in full)",
                    "fix": body.get("fix"), "details": {}}
        groups.setdefault(key, {"frames": [], "error": body})["frames"].append(frame)
    return list(groups.values())


def expand_failures(groups: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The inverse of :func:`group_failures`: ``{frame: error body}``."""
    failed: dict[int, dict[str, Any]] = {}
    for group in groups:
        frames, body = group.get("frames"), group.get("error")
        if not isinstance(frames, list) or not isinstance(body, dict) or not all(type(n) is int for n in frames):
            raise MalformedMessage("a failure group needs 'frames' (a list of frame numbers) and an 'error' map")
        failed.update({frame: body for frame in frames})
    return failed


REQUESTS: dict[str, type[Body]] = {
    cls.TYPE: cls for cls in (Ping, CapabilitiesRequest, Submit, FrameIn, Cancel, StatusRequest, Ack)
}
REPLIES: dict[str, type[Body]] = {
    cls.TYPE: cls for cls in (Pong, Capabilities, Accepted, Progress, Result, Done, ErrorReply, Status)
}
