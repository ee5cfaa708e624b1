"""A server that runs all week: nothing it holds grows with the jobs and requests it has served."""

from __future__ import annotations

import time

import numpy as np
import pytest
import zmq

from framebridge.protocol.errors import ServerBusy, UnknownJob
from framebridge.protocol.messages import REPLIES, Cancel, StatusRequest, Submit
from framebridge.protocol.wire import Codec
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


def wait_for_job(client, job_id, timeout=20.0):
    """Status of a job another connection submitted, once the server has it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.request(StatusRequest(), job=job_id).body
        except UnknownJob:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


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


def test_replies_a_peer_never_reads_do_not_pile_up_in_the_server(tmp_path):
    frames = list(range(20_000))  # each status lists every frame: about 60 kB
    with spawn_server(tmp_path) as running, running.client() as watcher:
        info = running.connection
        codec = Codec(info.key, incoming=REPLIES)
        context = zmq.Context()
        silent = context.socket(zmq.DEALER)
        silent.setsockopt(zmq.RCVHWM, 1)  # it stops reading its socket, as a hung host does
        silent.setsockopt(zmq.LINGER, 0)
        silent.connect(info.address)
        try:
            silent.send_multipart(codec.encode(Submit(op="echo", frames=frames), job="flood"))
            wait_for_job(watcher, "flood")
            before = running.resources()
            for _ in range(1_500):
                silent.send_multipart(codec.encode(StatusRequest(), job="flood"))
            silent.send_multipart(codec.encode(Cancel(), job="flood"))
            deadline = time.monotonic() + 60
            while watcher.request(StatusRequest(), job="flood").body.state != "cancelled" and time.monotonic() < deadline:
                time.sleep(0.2)
            after = running.resources()
        finally:
            silent.close()
            context.term()
        assert watcher.ping()
    assert after.rss_mb - before.rss_mb < 40, (before, after)


def test_a_peer_without_the_key_cannot_make_the_server_hold_a_large_message(tmp_path):
    with spawn_server(tmp_path, "--max-message-mb", "16") as running, running.client() as client:
        client.ping()
        before = running.resources()
        context = zmq.Context()
        stranger = context.socket(zmq.DEALER)
        stranger.setsockopt(zmq.LINGER, 0)
        stranger.connect(running.connection.address)
        try:
            chunk = bytes(20 << 20)  # each frame over the 16 MiB limit, 80 MiB in all, unsigned
            stranger.send_multipart([b"framebridge:1", b"", b"\x80", chunk, chunk, chunk, chunk])
            time.sleep(2.0)
            assert client.ping()
            after = running.resources()
        finally:
            stranger.close()
            context.term()
    assert after.peak_rss_mb - before.peak_rss_mb < 30, (before, after)
