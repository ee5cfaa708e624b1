"""A server that runs all week: nothing it holds grows with the jobs and requests it has served."""

from __future__ import annotations

import time

import numpy as np
import pytest

from framebridge.protocol.errors import ServerBusy
from framebridge.protocol.messages import StatusRequest, Submit
from framebridge.server.launch import spawn_server
from framebridge.server.server import MAX_JOBS_PER_PEER


def idle_submit(client, job_id, frames=(1, 2)):
    """A submit no frame ever follows."""
    client.request(Submit(op="echo", frames=list(frames)), job=job_id)


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


def test_a_submit_that_no_frame_follows_ends_after_the_input_timeout(tmp_path):
    with spawn_server(tmp_path, "--input-timeout", "1") as running, running.client() as client:
        idle_submit(client, "idle")
        deadline = time.monotonic() + 8
        while (status := client.request(StatusRequest(), job="idle").body).state == "queued" and time.monotonic() < deadline:
            time.sleep(0.2)
    assert status.state == "failed"
    assert [group["frames"] for group in status.failed] == [[1, 2]] and status.failed[0]["error"]["code"] == "timeout"


def test_one_connection_cannot_take_every_job_slot(tmp_path):
    with spawn_server(tmp_path) as running, running.client() as greedy, running.client() as other:
        for number in range(MAX_JOBS_PER_PEER):
            idle_submit(greedy, f"greedy-{number}")
        with pytest.raises(ServerBusy):
            idle_submit(greedy, "greedy-one-more")
        outcome = other.submit("echo", [1], {1: {"beauty": np.zeros((2, 2), np.uint8)}}).wait(timeout=20)
    assert outcome.state == "completed"
