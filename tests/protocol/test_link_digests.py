"""Buffer digests: skipped only where the link keeps bytes as sent and the peer accepts it, verified everywhere else."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.protocol.client import Client, ResultEvent
from framebridge.protocol.errors import DigestMismatch, MalformedMessage
from framebridge.protocol.link import integrity_protected
from framebridge.protocol.messages import REPLIES, FrameIn
from framebridge.protocol.wire import Codec

KEY = b"k" * 64
ARRAY = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


def message(sender: Codec) -> list:
    return sender.encode(FrameIn(frame=1), job="j", buffers=[("beauty", ARRAY, 1)])


def protected(peer_version=(1, 1)) -> Codec:
    codec = Codec(KEY, integrity_protected=True)
    codec.peer_version = peer_version
    return codec


def test_loopback_local_and_curve_links_are_integrity_protected_and_a_plain_lan_link_is_not():
    assert integrity_protected("tcp://127.0.0.1:5581", curve=False)
    assert integrity_protected("ipc:///tmp/framebridge.sock", curve=False)
    assert integrity_protected("tcp://192.168.1.20:5581", curve=True)
    assert not integrity_protected("tcp://192.168.1.20:5581", curve=False)


def test_a_protected_link_to_a_1_1_peer_sends_no_digest_and_the_protected_receiver_takes_the_bytes():
    frames = message(protected())
    receiver = Codec(KEY, integrity_protected=True)
    envelope = receiver.decode(frames)
    assert envelope.descriptors[0].digest == ""
    np.testing.assert_array_equal(envelope.buffers["beauty"], ARRAY)


def test_a_1_0_peer_or_an_unknown_one_still_gets_digests():
    for version in ((1, 0), None):
        assert Codec(KEY).decode(message(protected(version))).descriptors[0].digest != ""


def test_a_receiver_on_an_unprotected_link_refuses_buffers_without_digests():
    with pytest.raises(MalformedMessage, match="without a digest arrived over a link that is not loopback or CURVE"):
        Codec(KEY).decode(message(protected()))


def test_a_digest_that_is_sent_is_always_verified_even_on_a_protected_link():
    frames = message(Codec(KEY))
    tampered = bytearray(frames[3])
    tampered[0] ^= 1
    with pytest.raises(DigestMismatch):
        Codec(KEY, integrity_protected=True).decode([*frames[:3], bytes(tampered)])


def test_an_empty_digest_does_not_unsign_the_header():
    frames = message(protected())
    header = bytearray(frames[2])
    header[-1] ^= 1
    with pytest.raises(Exception, match="signature"):
        Codec(KEY, integrity_protected=True).decode([frames[0], frames[1], bytes(header), frames[3]])


def test_echo_over_loopback_carries_no_digests_either_way(server, monkeypatch):
    from framebridge.protocol import buffers

    hashed = []
    original = buffers.digest
    monkeypatch.setattr(buffers, "digest", lambda data: hashed.append(1) or original(data))
    with Client(server.connection_file) as client:
        client.ping()
        assert not client.codec.sends_digests()
        job = client.submit("echo", [1, 2], lambda number: {"beauty": ARRAY + number}, keep_results=False)
        results = {event.frame: event.buffers["beauty"] for event in job if isinstance(event, ResultEvent)}
    assert sorted(results) == [1, 2] and hashed == []  # this side hashed nothing, sending or receiving
    np.testing.assert_array_equal(results[2], ARRAY + 2)


def test_the_client_codec_of_a_lan_address_without_curve_keeps_digests():
    codec = Codec(KEY, incoming=REPLIES, integrity_protected=integrity_protected("tcp://10.0.0.5:5581", curve=False))
    codec.peer_version = (1, 1)
    assert codec.sends_digests()
