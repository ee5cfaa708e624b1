"""Per-peer rate limiting: how many messages one connection may send per second.

A token bucket per ROUTER identity, refilled at ``rate`` messages a second up to
``burst``. It bounds what one peer can cost the server before its messages are
even decoded, and with the replay window it bounds the ids the replay guard keeps.
"""

from __future__ import annotations

import time

__all__ = ["PeerRates"]


class PeerRates:
    """Token buckets by peer identity; idle peers are forgotten by :meth:`forget_idle`."""

    def __init__(self, rate: float = 5_000.0, burst: float = 5_000.0):
        self.rate = rate
        self.burst = burst
        self._buckets: dict[bytes, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, peer: bytes, now: float | None = None) -> bool:
        """Take one token for ``peer``; False when it has sent faster than the rate allows."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(peer, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[peer] = (tokens, now)
            return False
        self._buckets[peer] = (tokens - 1.0, now)
        return True

    def forget_idle(self, now: float | None = None) -> None:
        """Drop peers whose bucket has refilled: they hold nothing worth remembering."""
        now = time.monotonic() if now is None else now
        for peer, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._buckets[peer]
