"""The replay guard remembers every id for the whole window, and refuses rather than forgets when full."""

from __future__ import annotations

import pytest

from framebridge.protocol.errors import ReplayedMessage, ServerBusy
from framebridge.protocol.replay import ReplayGuard


def test_a_message_replayed_after_200_000_others_within_the_window_is_refused():
    guard = ReplayGuard(window_seconds=300.0)
    now = 1_000_000.0
    guard.check("captured", now, now=now)
    for number in range(200_001):
        guard.check(f"other-{number}", now + number * 1e-5, now=now + number * 1e-5)
    with pytest.raises(ReplayedMessage, match="already received"):
        guard.check("captured", now, now=now + 8.5)


def test_ids_are_let_go_once_their_time_has_left_the_window():
    guard = ReplayGuard(window_seconds=60.0)
    guard.check("old", 1000.0, now=1000.0)
    guard.check("new", 1100.0, now=1100.0)
    assert len(guard) == 1
    with pytest.raises(ReplayedMessage, match="clock"):
        guard.check("old", 1000.0, now=1100.0)


def test_a_full_guard_refuses_new_messages_instead_of_forgetting_old_ones():
    guard = ReplayGuard(window_seconds=300.0, capacity=3)
    for name in ("a", "b", "c"):
        guard.check(name, 500.0, now=500.0)
    with pytest.raises(ServerBusy):
        guard.check("d", 500.0, now=500.0)
    with pytest.raises(ReplayedMessage):
        guard.check("a", 500.0, now=510.0)
