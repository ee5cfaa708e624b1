"""Client job bookkeeping against a real server: lockstep sending and forgetting finished jobs."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from framebridge.protocol.errors import FrameFailed, InvalidParams


def test_in_flight_one_sends_each_frame_after_the_previous_is_answered(server):
    frames = [1, 2, 3, 4, 5]
    unanswered_at_send: dict[int, set[int]] = {}
    jobs = []

    def source(number: int) -> dict[str, np.ndarray]:
        unanswered_at_send[number] = {n for n in frames if n < number} - jobs[0].received
        return {"beauty": np.full((4, 4), number, dtype=np.float32)}

    with server.client() as client:
        jobs.append(client.submit("echo", frames, source, params={"fail": [2]}, in_flight=1))
        outcome = jobs[0].wait(timeout=30)

    assert outcome.state == "completed_with_failures"
    assert sorted(outcome.results) == [1, 3, 4, 5]
    assert isinstance(outcome.failed[2], FrameFailed)
    assert outcome.results[5]["beauty"][0, 0] == 5
    # Frame 2 failed (no result): frame 3 may only leave once a progress message counted that failure.
    assert unanswered_at_send == {1: set(), 2: set(), 3: {2}, 4: {2}, 5: {2}}


def test_in_flight_below_one_is_refused(server):
    with server.client() as client, pytest.raises(InvalidParams, match="in_flight"):
        client.submit("echo", [1], {1: {"beauty": np.zeros((2, 2), np.float32)}}, in_flight=0)


def test_a_finished_job_is_forgotten_by_the_client_but_keeps_its_results(server):
    array = np.arange(64, dtype=np.float16).reshape(8, 8)
    with server.client() as client:
        jobs = [client.submit("echo", [1], {1: {"beauty": array}}) for _ in range(3)]
        outcomes = [job.wait(timeout=30) for job in jobs]
        assert client._jobs == {}
    for outcome in outcomes:
        np.testing.assert_array_equal(outcome.results[1]["beauty"], array)


def test_results_sent_to_a_connection_the_job_has_left_are_fetched_before_it_ends(server):
    import time

    import zmq

    from framebridge.protocol.messages import FrameIn
    from framebridge.protocol.wire import Codec

    frames = {number: {"beauty": np.full((4, 4), number, np.float32)} for number in (1, 2)}
    context = zmq.Context()
    other = context.socket(zmq.DEALER)  # e.g. the connection a host dropped, whose frames arrived late
    other.setsockopt(zmq.LINGER, 0)
    other.connect(server.connection.address)
    codec = Codec(server.connection.key)
    try:
        with server.client() as client:
            # A fresh id: the 3.9 and 3.10 runs of this file share the 3.11 session's server.
            job = client.submit("echo", [1, 2], frames, params={"delay": 1.0}, job_id=f"moved-owner-{uuid.uuid4().hex[:8]}")
            for number, buffers in frames.items():
                other.send_multipart(codec.encode(FrameIn(frame=number), job=job.id,
                                                  buffers=[(name, array, number) for name, array in buffers.items()]))
            time.sleep(1.5)  # frame 1's result has gone to the other connection; frame 2 is being computed
            outcome = job.wait(timeout=30)
    finally:
        other.close()
        context.term()
    assert outcome.state == "completed" and sorted(outcome.results) == [1, 2] and not outcome.failed
