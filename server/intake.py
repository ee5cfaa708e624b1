"""Reading one request off the ROUTER socket frame by frame, before anything about it is trusted.

ZeroMQ refuses a single frame above ``MAXMSGSIZE`` (the message limit) by
dropping the connection. Past that, a message with more frames than a request
can have (tag, signature, header and ``max_buffers`` buffers), or more bytes than
the message limit, is read to its end and let go frame by frame: nothing of it
is kept but its first three frames, so the refusal can name the request's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zmq

from framebridge.protocol.buffers import Limits
from framebridge.protocol.errors import MessageTooLarge

__all__ = ["Incoming", "receive"]

HEAD_FRAMES = 3  # tag, signature, header


@dataclass
class Incoming:
    """One message from a peer: its frames, or the first few of them and why the rest were dropped."""

    identity: bytes
    frames: list[Any]
    refused: MessageTooLarge | None = None
    identity_frame: Any = None  # the ROUTER's identity frame: its ``User-Id`` names a CURVE client


def receive(socket: zmq.Socket, limits: Limits) -> Incoming | None:
    """The next message waiting on a ROUTER socket, or None if there is none."""
    try:
        identity = socket.recv(zmq.NOBLOCK, copy=False)
    except zmq.Again:
        return None
    message = Incoming(identity.bytes, [], identity_frame=identity)
    max_frames = HEAD_FRAMES + limits.max_buffers
    size = 0
    more = identity.more
    while more:
        frame = socket.recv(copy=False)
        more = frame.more
        if message.refused is not None:
            continue
        size += len(frame.buffer)
        if len(message.frames) >= max_frames:
            message.refused = MessageTooLarge(f"a message has at most {max_frames} frames "
                                              f"(tag, signature, header and {limits.max_buffers} buffers)",
                                              fix="send fewer buffers per message")
        elif size > limits.max_message_bytes:
            message.refused = MessageTooLarge(f"the message exceeds the limit of {limits.max_message_bytes} bytes",
                                              fix="send fewer or smaller buffers per message")
        else:
            message.frames.append(frame)
            continue
        del message.frames[HEAD_FRAMES:]
    return message
