"""One error tree for the whole bridge; every error has a stable wire ``code``.

The server sends an error as ``{code, message, fix, details}``; the client
re-raises the class registered for that code (falling back to the nearest
family, then to :class:`FrameBridgeError`).

    FrameBridgeError                      error
    ├── ProtocolError                     protocol
    │   ├── MalformedMessage              malformed_message
    │   ├── VersionMismatch               version_mismatch
    │   ├── SignatureInvalid              bad_signature
    │   ├── ReplayedMessage               replayed_message
    │   ├── UnknownMessageType            unknown_message_type
    │   ├── MessageTooLarge               message_too_large
    │   └── CreditExceeded                credit_exceeded
    ├── FrameBufferError                  bad_buffer
    │   ├── DtypeNotAllowed               dtype_not_allowed
    │   ├── ShapeMismatch                 shape_mismatch
    │   ├── DigestMismatch                digest_mismatch
    │   ├── FrameTooLarge                 frame_too_large
    │   └── NonFiniteValues               non_finite
    ├── RequestError                      bad_request
    │   ├── UnknownOp                     unknown_op
    │   ├── InvalidParams                 invalid_params
    │   ├── MissingInput                  missing_input
    │   ├── UnknownJob                    unknown_job
    │   ├── ServerBusy                    server_busy
    │   └── Forbidden                     forbidden
    ├── JobError                          job_failed
    │   ├── JobCancelled                  cancelled
    │   └── FrameFailed                   frame_failed
    ├── MediaError                        bad_media
    │   ├── ExrError                      bad_exr
    │   └── AudioError                    bad_audio
    ├── ModelError                        model_error
    │   └── ModelNotFound                 model_not_found
    └── ConnectionFailure                 connection
        ├── ConnectionFileError           connection_file
        ├── ServerUnreachable             server_unreachable
        ├── RequestTimeout                timeout
        ├── InsecureBind                  insecure_bind
        ├── BindFailed                    bind_failed
        ├── ClusterUnavailable            cluster_unavailable
        └── AuthenticationFailed          authentication
            ├── ClientRejected            client_rejected
            ├── ClientRevoked             client_revoked
            └── ServerKeyMismatch         server_key_mismatch
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FrameBridgeError",
    "ProtocolError",
    "MalformedMessage",
    "VersionMismatch",
    "SignatureInvalid",
    "ReplayedMessage",
    "UnknownMessageType",
    "MessageTooLarge",
    "CreditExceeded",
    "FrameBufferError",
    "DtypeNotAllowed",
    "ShapeMismatch",
    "DigestMismatch",
    "FrameTooLarge",
    "NonFiniteValues",
    "RequestError",
    "UnknownOp",
    "InvalidParams",
    "MissingInput",
    "UnknownJob",
    "ServerBusy",
    "Forbidden",
    "JobError",
    "JobCancelled",
    "FrameFailed",
    "MediaError",
    "ExrError",
    "AudioError",
    "ModelError",
    "ModelNotFound",
    "ConnectionFailure",
    "ConnectionFileError",
    "ServerUnreachable",
    "RequestTimeout",
    "InsecureBind",
    "BindFailed",
    "ClusterUnavailable",
    "AuthenticationFailed",
    "ClientRejected",
    "ClientRevoked",
    "ServerKeyMismatch",
    "error_class",
    "error_codes",
    "error_from_wire",
]

_REGISTRY: dict[str, type[FrameBridgeError]] = {}


class FrameBridgeError(Exception):
    """Root of every FrameBridge error: a stable code, a message and maybe a fix."""

    code = "error"

    def __init__(self, message: str, *, fix: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.details = dict(details or {})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} must define its own wire code")
        if cls.code in _REGISTRY:
            raise TypeError(f"error code {cls.code!r} is already taken by {_REGISTRY[cls.code].__name__}")
        _REGISTRY[cls.code] = cls

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message} (fix: {self.fix})"

    def to_wire(self) -> dict[str, Any]:
        """The error as the body of an ``error`` message."""
        return {"code": self.code, "message": self.message, "fix": self.fix, "details": self.details}


_REGISTRY[FrameBridgeError.code] = FrameBridgeError


class ProtocolError(FrameBridgeError):
    """A message broke the wire format or its rules."""

    code = "protocol"


class MalformedMessage(ProtocolError):
    code = "malformed_message"


class VersionMismatch(ProtocolError):
    code = "version_mismatch"


class SignatureInvalid(ProtocolError):
    code = "bad_signature"


class ReplayedMessage(ProtocolError):
    code = "replayed_message"


class UnknownMessageType(ProtocolError):
    code = "unknown_message_type"


class MessageTooLarge(ProtocolError):
    code = "message_too_large"


class CreditExceeded(ProtocolError):
    code = "credit_exceeded"


class FrameBufferError(FrameBridgeError):
    """A frame buffer is not what its descriptor says, or not allowed."""

    code = "bad_buffer"


class DtypeNotAllowed(FrameBufferError):
    code = "dtype_not_allowed"


class ShapeMismatch(FrameBufferError):
    code = "shape_mismatch"


class DigestMismatch(FrameBufferError):
    code = "digest_mismatch"


class FrameTooLarge(FrameBufferError):
    code = "frame_too_large"


class NonFiniteValues(FrameBufferError):
    code = "non_finite"


class RequestError(FrameBridgeError):
    """A well-formed request the server cannot honour as asked."""

    code = "bad_request"


class UnknownOp(RequestError):
    code = "unknown_op"


class InvalidParams(RequestError):
    code = "invalid_params"


class MissingInput(RequestError):
    code = "missing_input"


class UnknownJob(RequestError):
    code = "unknown_job"


class ServerBusy(RequestError):
    code = "server_busy"


class Forbidden(RequestError):
    """A request only the server's owner may make (e.g. the list of every client's jobs)."""

    code = "forbidden"


class JobError(FrameBridgeError):
    """A job stopped or a frame of it failed."""

    code = "job_failed"


class JobCancelled(JobError):
    code = "cancelled"


class FrameFailed(JobError):
    code = "frame_failed"


class MediaError(FrameBridgeError):
    """An image file could not be read or written."""

    code = "bad_media"


class ExrError(MediaError):
    code = "bad_exr"


class AudioError(MediaError):
    """An audio track is unreadable, empty, too long, or not the layout its params declare."""

    code = "bad_audio"


class ModelError(FrameBridgeError):
    """A model backend could not be loaded or run."""

    code = "model_error"


class ModelNotFound(ModelError):
    code = "model_not_found"


class ConnectionFailure(FrameBridgeError):
    """The client could not talk to a server (raised on the client side)."""

    code = "connection"


class ConnectionFileError(ConnectionFailure):
    code = "connection_file"


class ServerUnreachable(ConnectionFailure):
    code = "server_unreachable"


class RequestTimeout(ConnectionFailure):
    code = "timeout"


class InsecureBind(ConnectionFailure):
    code = "insecure_bind"


class BindFailed(ConnectionFailure):
    """The server cannot listen on its address (the port is taken, or the address is not this host's)."""

    code = "bind_failed"


class ClusterUnavailable(ConnectionFailure):
    """``serve --ray`` cannot start its worker pool: Ray is not installed, no cluster answers, or its actors do not start."""

    code = "cluster_unavailable"


class AuthenticationFailed(ConnectionFailure):
    """The CURVE handshake or the client's key was refused: no retry helps, a new connection file may."""

    code = "authentication"


class ClientRejected(AuthenticationFailed):
    """The server refused this client's key in the handshake (revoked, or never issued by it)."""

    code = "client_rejected"


class ClientRevoked(AuthenticationFailed):
    """Sent by the server on a connection whose client was revoked while it was open."""

    code = "client_revoked"


class ServerKeyMismatch(AuthenticationFailed):
    """The handshake failed before the server accepted anything: its key is not the one in the file."""

    code = "server_key_mismatch"


def error_class(code: str) -> type[FrameBridgeError]:
    """The class registered for a wire code, or the root class for unknown codes."""
    return _REGISTRY.get(code, FrameBridgeError)


def error_codes() -> list[str]:
    """Every wire code of the tree, root first."""
    return list(_REGISTRY)


def error_from_wire(body: dict[str, Any]) -> FrameBridgeError:
    """Rebuild the error a peer sent, as the class it named."""
    code = str(body.get("code", FrameBridgeError.code))
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    error = error_class(code)(str(body.get("message", code)), fix=body.get("fix"), details=details)
    if error.code != code:
        error.details.setdefault("remote_code", code)
    return error
