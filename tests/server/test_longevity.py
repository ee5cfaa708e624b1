"""A server that runs all week: nothing it holds grows with the jobs and requests it has served."""

from __future__ import annotations

import numpy as np

from framebridge.server.launch import spawn_server


def run_echo_jobs(client, count, prefix):
    for number in range(count):
        frame = {"beauty": np.full((4, 4), number % 256, np.uint8)}
        outcome = client.submit("echo", [1], {1: frame}, job_id=f"{prefix}-{number}").wait(timeout=20)
        assert outcome.state == "completed"


def test_jobs_leave_no_file_descriptors_or_threads_behind(tmp_path):
    with spawn_server(tmp_path) as running, running.client() as client:
        run_echo_jobs(client, 20, "warm")
        before = running.resources()
        run_echo_jobs(client, 200, "job")
        after = running.resources()
    assert after.fds - before.fds < 10, (before, after)
    assert after.threads - before.threads < 5, (before, after)

