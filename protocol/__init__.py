"""FrameBridge wire protocol and client. Pure Python + pyzmq + msgpack + numpy + xxhash."""

from . import errors, passes
from .buffers import ALLOWED_DTYPES, BufferDescriptor, Limits
from .client import Client, DoneEvent, Job, JobOutcome, ProgressEvent, ResultEvent
from .connection import DEFAULT_ADDRESS, ConnectionInfo, default_connection_path
from .errors import *  # noqa: F403
from .version import PROTOCOL_VERSION

__all__ = [
    "ALLOWED_DTYPES",
    "BufferDescriptor",
    "Client",
    "DoneEvent",
    "Job",
    "JobOutcome",
    "ProgressEvent",
    "ResultEvent",
    "ConnectionInfo",
    "DEFAULT_ADDRESS",
    "Limits",
    "PROTOCOL_VERSION",
    "default_connection_path",
    "errors",
    "passes",
    *errors.__all__,
]
