"""5,000 jobs of careless and hostile clients: the server ends holding what it held after warm-up."""

from __future__ import annotations

import pytest

from framebridge.server.soak import KINDS, soak

FD_MARGIN = 8
THREAD_MARGIN = 2
RSS_MARGIN_MB = 15.0


@pytest.mark.slow
def test_5000_mixed_jobs_from_8_clients_leave_the_server_as_it_was_after_warm_up(tmp_path):
    report = soak(tmp_path, jobs=5_000, clients=8, warm_up=500, report_every=500)
    assert not report.failures, report.failures[:10]
    assert set(report.counts) == set(KINDS) and sum(report.counts.values()) == 5_000
    warm, final = report.warm, report.final
    assert final.fds <= warm.fds + FD_MARGIN, (warm, final)
    assert final.threads <= warm.threads + THREAD_MARGIN, (warm, final)
    assert final.rss_mb <= warm.rss_mb + RSS_MARGIN_MB, (warm, final)
