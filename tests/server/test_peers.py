"""Per-peer message rates."""

from __future__ import annotations

from framebridge.server.peers import PeerRates


def test_a_peer_past_its_rate_is_refused_and_others_are_not():
    rates = PeerRates(rate=10.0, burst=5.0)
    assert all(rates.allow(b"fast", now=0.0) for _ in range(5))
    assert not rates.allow(b"fast", now=0.0)
    assert rates.allow(b"calm", now=0.0)
    assert rates.allow(b"fast", now=0.1), "a tenth of a second later it has one message again"


def test_idle_peers_are_forgotten():
    rates = PeerRates(rate=10.0, burst=5.0)
    rates.allow(b"gone", now=0.0)
    for _ in range(5):
        rates.allow(b"busy", now=0.9)
    rates.forget_idle(now=1.0)
    assert len(rates) == 1
