"""The codec on its own: signing, bounds, replays, descriptors."""

from __future__ import annotations

import hashlib
import hmac
import time

import msgpack
import numpy as np
import pytest

from framebridge.protocol.buffers import BufferDescriptor, Limits
from framebridge.protocol.errors import (
    DigestMismatch,
    DtypeNotAllowed,
    FrameTooLarge,
    MalformedMessage,
    MessageTooLarge,
    ReplayedMessage,
    ShapeMismatch,
    SignatureInvalid,
    UnknownMessageType,
    VersionMismatch,
)
from framebridge.protocol.messages import REPLIES, FrameIn, Ping, Submit
from framebridge.protocol.wire import TAG, Codec

KEY = b"k" * 64


def forge(header: dict, buffers: list[bytes] = (), key: bytes = KEY, tag: bytes = TAG) -> list[bytes]:
    """A message signed with ``key`` whose header is exactly ``header``."""
    packed = msgpack.packb(header, use_bin_type=True)
    signature = hmac.new(key, tag + packed, hashlib.sha256).hexdigest().encode()
    return [tag, signature, packed, *buffers]


def header(**overrides) -> dict:
    base = {"v": [1, 0], "type": "ping", "id": f"m{time.perf_counter_ns()}", "time": time.time(), "session": "s",
            "job": None, "reply_to": None, "body": {}, "buffers": []}
    return {**base, **overrides}


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float16", "float32"])
def test_every_allowed_dtype_round_trips_bit_exact(dtype):
    codec = Codec(KEY)
    rng = np.random.default_rng(1)
    array = (rng.random((7, 5, 3)) * 1000).astype(dtype)
    envelope = codec.decode(codec.encode(FrameIn(frame=3), job="j", buffers=[("beauty", array, 3)]))
    assert envelope.body == FrameIn(frame=3)
    assert envelope.buffers["beauty"].dtype == array.dtype
    assert envelope.buffers["beauty"].tobytes() == array.tobytes()


def test_one_dimensional_buffers_are_float32_samples_only():
    codec = Codec(KEY)
    audio = np.linspace(-1, 1, 16000, dtype=np.float32)
    envelope = codec.decode(codec.encode(FrameIn(frame=1), buffers=[("audio", audio, None)]))
    np.testing.assert_array_equal(envelope.buffers["audio"], audio)
    with pytest.raises(ShapeMismatch):
        codec.encode(FrameIn(frame=1), buffers=[("audio", audio.astype(np.uint16), None)])


def test_received_arrays_are_read_only_views():
    codec = Codec(KEY)
    envelope = codec.decode(codec.encode(FrameIn(frame=1), buffers=[("beauty", np.zeros((2, 2), np.uint8), 1)]))
    with pytest.raises(ValueError):
        envelope.buffers["beauty"][0, 0] = 1


def test_wrong_key_is_rejected():
    frames = Codec(b"x" * 64).encode(Ping())
    with pytest.raises(SignatureInvalid):
        Codec(KEY).decode(frames)


def test_missing_signature_is_rejected():
    frames = Codec(KEY).encode(Ping())
    frames[1] = b""
    with pytest.raises(SignatureInvalid, match="not signed"):
        Codec(KEY).decode(frames)


def test_tampered_header_is_rejected():
    frames = Codec(KEY).encode(Submit(op="echo", frames=[1]), job="j")
    frames[2] = frames[2].replace(b"echo", b"ecHo")
    with pytest.raises(SignatureInvalid):
        Codec(KEY).decode(frames)


def test_tampered_buffer_fails_its_digest():
    frames = Codec(KEY).encode(FrameIn(frame=1), buffers=[("beauty", np.zeros((4, 4), np.float32), 1)])
    corrupted = bytearray(frames[3].tobytes())
    corrupted[5] ^= 0xFF
    frames[3] = bytes(corrupted)
    with pytest.raises(DigestMismatch):
        Codec(KEY).decode(frames)


def test_replayed_message_is_rejected():
    codec = Codec(KEY)
    frames = codec.encode(Ping())
    codec.decode(frames)
    with pytest.raises(ReplayedMessage, match="already received"):
        codec.decode(frames)


def test_stale_message_is_rejected():
    with pytest.raises(ReplayedMessage, match="clock"):
        Codec(KEY).decode(forge(header(time=time.time() - 3600)))


def test_header_that_is_not_msgpack_is_malformed():
    packed = b"\xc1not msgpack"
    signature = hmac.new(KEY, TAG + packed, hashlib.sha256).hexdigest().encode()
    with pytest.raises(MalformedMessage, match="msgpack"):
        Codec(KEY).decode([TAG, signature, packed])


def test_unknown_message_type():
    with pytest.raises(UnknownMessageType):
        Codec(KEY).decode(forge(header(type="format_disk")))


def test_replies_are_not_accepted_as_requests_and_vice_versa():
    with pytest.raises(UnknownMessageType):
        Codec(KEY).decode(forge(header(type="pong", body={"server_version": "1", "protocol_version": "1", "time": 1.0})))
    with pytest.raises(UnknownMessageType):
        Codec(KEY, incoming=REPLIES).decode(forge(header(type="submit")))


def test_major_version_mismatch_names_both_versions():
    with pytest.raises(VersionMismatch, match="2.0"):
        Codec(KEY).decode(forge(header(v=[2, 0])))
    with pytest.raises(VersionMismatch):
        Codec(KEY).decode(forge(header(), tag=b"framebridge:2"))


def test_minor_version_may_add_fields():
    envelope = Codec(KEY).decode(forge(header(v=[1, 7], body={"added_in_1_7": True})))
    assert envelope.type == "ping"


def test_body_fields_are_type_checked():
    with pytest.raises(MalformedMessage, match="frames"):
        Codec(KEY).decode(forge(header(type="submit", job="j", body={"op": "echo", "frames": ["one"]})))
    with pytest.raises(MalformedMessage, match="needs the field 'op'"):
        Codec(KEY).decode(forge(header(type="submit", job="j", body={"frames": [1]})))


def descriptor(**overrides) -> dict:
    base = {"name": "beauty", "dtype": "float32", "shape": [2, 2], "frame": 1, "digest": "0" * 32}
    return {**base, **overrides}


def test_disallowed_dtype_is_named():
    with pytest.raises(DtypeNotAllowed, match="float64"):
        Codec(KEY).decode(forge(header(type="frame", body={"frame": 1}, buffers=[descriptor(dtype="float64")]), [b"\0" * 32]))


def test_nbytes_must_match_shape():
    with pytest.raises(ShapeMismatch, match="needs 16"):
        Codec(KEY).decode(forge(header(type="frame", body={"frame": 1}, buffers=[descriptor()]), [b"\0" * 15]))


def test_descriptor_count_must_match_buffers():
    with pytest.raises(MalformedMessage, match="describes 1 buffers but 0"):
        Codec(KEY).decode(forge(header(type="frame", body={"frame": 1}, buffers=[descriptor()])))


def test_frame_dimensions_are_bounded():
    limits = Limits(max_width=64, max_height=64)
    with pytest.raises(FrameTooLarge):
        Codec(KEY, limits=limits).decode(
            forge(header(type="frame", body={"frame": 1}, buffers=[descriptor(shape=[65, 10])]), [b"\0" * 65 * 10 * 4]))


def test_absurd_shape_is_refused_before_any_allocation():
    with pytest.raises(FrameTooLarge):
        Codec(KEY).decode(forge(header(type="frame", body={"frame": 1}, buffers=[descriptor(shape=[1 << 40, 1 << 40])]), [b""]))


def test_message_size_is_bounded():
    limits = Limits(max_message_bytes=1000)
    with pytest.raises(MessageTooLarge):
        Codec(KEY, limits=limits).decode(forge(header(), [b"\0" * 2000]))


def test_buffer_count_is_bounded():
    limits = Limits(max_buffers=2)
    descriptors = [descriptor(name=f"b{n}", shape=[1, 1], dtype="uint8") for n in range(3)]
    with pytest.raises(MessageTooLarge, match="buffers"):
        Codec(KEY, limits=limits).decode(forge(header(type="frame", body={"frame": 1}, buffers=descriptors), [b"\0"] * 3))


def test_peek_reads_the_ids_of_any_header_it_can_unpack_within_bounds():
    codec = Codec(KEY)
    frames = codec.encode(Submit(op="echo", frames=[1]), job="job-1", message_id="abc")
    assert codec.peek(frames) == {"job": "job-1", "reply_to": "abc"}
    frames[1] = b"0" * 64  # a bad signature still names the request the error answers
    assert codec.peek(frames) == {"job": "job-1", "reply_to": "abc"}
    assert codec.peek([TAG, b"", b"\xc1"]) == {} and codec.peek([TAG]) == {}
    long_id = codec.encode(Submit(op="echo", frames=[1]), message_id="x" * 1000)
    assert codec.peek(long_id) == {"job": None, "reply_to": None}


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", ".hidden", "-rf", "name\n", "c:stream", "trailing "])
def test_buffer_names_that_could_make_a_path_are_malformed(name):
    descriptor = {"name": name, "dtype": "uint8", "shape": [1], "frame": 1, "digest": "0" * 32}
    with pytest.raises(MalformedMessage, match="buffer name"):
        BufferDescriptor.from_wire(descriptor, Limits())


@pytest.mark.parametrize("message_id, accepted", [("a" * 128, True), ("a" * 129, False), ("", False)])
def test_a_message_id_is_1_to_128_characters_as_the_spec_says(message_id, accepted):
    frames = forge(header(id=message_id))
    if accepted:
        assert Codec(KEY).decode(frames).id == message_id
    else:
        with pytest.raises(MalformedMessage, match="1-128 characters"):
            Codec(KEY).decode(frames)
