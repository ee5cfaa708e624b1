"""The add-on's server link against a live `framebridge serve` process, without Blender."""

import numpy as np
import pytest

from framebridge.blender_addon.comms import Finished, FrameStored, JobRunner, check_server
from framebridge.protocol.errors import ServerUnreachable
from framebridge.protocol.session import ConnectionSettings, connect


def test_unreachable_server_says_how_to_start_one_and_points_at_the_preferences(unreachable_client):
    with pytest.raises(ServerUnreachable) as caught:
        check_server(unreachable_client)
    assert "framebridge serve" in caught.value.fix and "add-on preferences" in caught.value.fix


def test_runner_polls_results_into_the_sink(server):
    client = connect(ConnectionSettings(connection_file=str(server.connection_file)))
    stored = {}
    frames = {n: {"beauty": np.full((4, 6, 3), n, np.float32)} for n in (1, 2, 3)}
    try:
        runner = JobRunner(client, "echo", [1, 2, 3], frames.__getitem__, stored.__setitem__, params={}, shot={}, backend=None)
        messages = []
        while runner.finished is None:
            messages.extend(runner.poll(budget=0.01))
    finally:
        client.close()
    assert sorted(stored) == [1, 2, 3]
    assert float(stored[2]["beauty"][0, 0, 0]) == 2.0
    assert sorted(m.number for m in messages if isinstance(m, FrameStored)) == [1, 2, 3]
    assert isinstance(messages[-1], Finished) and messages[-1].succeeded


def test_cancel_ends_the_job_as_cancelled(server):
    client = connect(ConnectionSettings(connection_file=str(server.connection_file)))
    frames = {n: {"beauty": np.zeros((4, 6, 3), np.float32)} for n in range(1, 11)}
    try:
        runner = JobRunner(client, "echo", list(frames), frames.__getitem__, lambda n, b: None,
                           params={"delay": 0.5}, shot={}, backend=None)
        runner.poll()
        runner.cancel()
    finally:
        client.close()
    assert runner.finished.state == "cancelled"
