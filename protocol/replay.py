"""Replay protection: every message id is remembered for as long as its timestamp is inside the window.

Ids are kept as 64-bit BLAKE2b digests in sets bucketed by their timestamp, so a
replay is looked up in the one bucket its (signed) timestamp names and whole
buckets are let go once they leave the window. Nothing is forgotten early: past
``capacity`` ids within the window the guard refuses new messages with
``server_busy`` instead. With the server's per-peer rate limit that bounds its
memory by window x rate, and by ``capacity`` (2,000,000 ids, about 120 MB) overall.
"""

from __future__ import annotations

import hashlib
import math
import time

from .errors import ReplayedMessage, ServerBusy

__all__ = ["ReplayGuard"]

BUCKET_SECONDS = 10.0


class ReplayGuard:
    """Rejects a message id seen within the window, or a timestamp outside it."""

    def __init__(self, window_seconds: float = 300.0, capacity: int = 2_000_000):
        self.window = window_seconds
        self.capacity = capacity
        self._buckets: dict[int, set[int]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def check(self, message_id: str, sent_at: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if abs(now - sent_at) > self.window:
            raise ReplayedMessage(
                f"message {message_id} is {now - sent_at:.0f} s off this host's clock (window {self.window:.0f} s)",
                fix="check that the client and server clocks agree",
            )
        self._expire(now)
        bucket = self._buckets.setdefault(math.floor(sent_at / BUCKET_SECONDS), set())
        digest = int.from_bytes(hashlib.blake2b(message_id.encode(), digest_size=8).digest(), "little")
        if digest in bucket:
            raise ReplayedMessage(f"message {message_id} was already received")
        if self._count >= self.capacity:
            raise ServerBusy(f"more than {self.capacity} messages arrived within the {self.window:.0f} s replay window",
                             fix="send fewer messages; the window moves on within minutes")
        bucket.add(digest)
        self._count += 1

    def _expire(self, now: float) -> None:
        """Let go of buckets whose every timestamp is older than the window."""
        for key in [key for key in self._buckets if (key + 1) * BUCKET_SECONDS + self.window < now]:
            self._count -= len(self._buckets.pop(key))
