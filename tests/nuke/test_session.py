"""Jobs driven by the Nuke plugin's session against a live server, from EXRs with Nuke's channel names."""

import numpy as np
import OpenEXR
import pytest

from fixtures.clients import StubClient
from framebridge.nuke_plugin.core.job import plan_job
from framebridge.nuke_plugin.core.session import (
    capture_source,
    check_server,
    inverse_depth_to_distance,
    run_session,
    shot_with_depth_range,
)
from framebridge.protocol.errors import ConnectionFileError, FrameFailed, JobCancelled, ServerUnreachable
from framebridge.protocol.exr import read_frame, read_info
from framebridge.protocol.sequence import existing_frames
from framebridge.protocol.session import ConnectionSettings, connect

FRAMES = [1001, 1002, 1003]
HEIGHT, WIDTH = 24, 32


def nuke_frame(number):
    """Channel planes as a Nuke Write names them: R G B A, depth.Z, N.*, forward/backward.u/v (v up)."""
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    shift = number - FRAMES[0]
    return {
        "R": (columns + shift) / WIDTH, "G": rows / HEIGHT, "B": np.full_like(rows, 0.25), "A": np.ones_like(rows),
        "depth.Z": 2.0 + rows / HEIGHT,
        "N.red": np.zeros_like(rows), "N.green": np.zeros_like(rows), "N.blue": np.ones_like(rows),
        "forward.u": np.ones_like(rows), "forward.v": np.zeros_like(rows),
        "backward.u": -np.ones_like(rows), "backward.v": np.zeros_like(rows),
    }


@pytest.fixture
def capture(tmp_path):
    """A capture folder as the internal Write node leaves it: capture.####.exr, float, Nuke channel names."""
    folder = tmp_path / "capture"
    folder.mkdir()
    for number in FRAMES:
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, nuke_frame(number)).write(str(folder / f"capture.{number:04d}.exr"))
    return lambda number: folder / f"capture.{number:04d}.exr"


@pytest.fixture
def client(server):
    client = connect(ConnectionSettings(str(server.connection_file)))
    yield client
    client.close()


def test_capture_source_maps_nuke_channels_to_canonical_buffers(capture):
    frame = capture_source(capture, ("beauty", "depth", "motion_forward", "object_index"))(1002)
    assert sorted(frame) == ["beauty", "depth", "motion_forward"]
    assert frame["beauty"].shape == (HEIGHT, WIDTH, 4)
    np.testing.assert_allclose(frame["beauty"][..., 0], nuke_frame(1002)["R"])
    np.testing.assert_allclose(frame["motion_forward"][..., 0], 1.0)


def test_inverse_depth_becomes_distance_with_background_far():
    depth = inverse_depth_to_distance(np.array([[0.5, 0.0], [0.25, -1.0]], np.float32))
    np.testing.assert_allclose(depth, [[2.0, 1e10], [4.0, 1e10]])
    assert depth.dtype == np.float32


def test_capture_source_converts_scanline_render_depth(capture):
    frame = capture_source(capture, ("depth",), depth_is_inverse=True)(1001)
    np.testing.assert_allclose(frame["depth"], 1.0 / nuke_frame(1001)["depth.Z"], rtol=1e-6)


def test_the_params_the_node_builds_are_the_ones_the_server_declares(client):
    info = check_server(client, "restyle")
    for values in ({"op": "restyle", "temporal": True, "cond_depth": True}, {"op": "extract", "cond_depth": True}):
        request = plan_job(values, input_first=1, input_last=2, channels=["rgba.red", "depth.Z"], fps=24, width=8, height=8)
        assert set(request.params) <= set(info.ops[request.op]["params"]), request.op
    assert "restyle" in info.summary() and info.protocol_version.startswith("1.")


def test_restyle_round_trip_publishes_an_exr_sequence_and_read_knobs(client, capture, tmp_path):
    request = plan_job({"op": "restyle", "prompt": "cartoon", "strength": {1001: 0.5, 1003: 1.0}, "seed": 3,
                        "temporal": True, "output_folder": str(tmp_path / "out")},
                       input_first=FRAMES[0], input_last=FRAMES[-1],
                       channels=["rgba.red", "rgba.green", "rgba.blue", "rgba.alpha", "depth.Z", "forward.u", "forward.v",
                                 "backward.u", "backward.v"], fps=24, width=WIDTH, height=HEIGHT)
    seen = []
    result = run_session(client, request.op, list(request.frames), capture_source(capture, request.layers.buffers),
                         output_folder=request.output_folder, params={**request.params, "cache": False},
                         shot=request.shot, backend=request.backend, progress=lambda *args: seen.append(args))
    assert result.succeeded, result
    result.raise_for_failure()
    assert existing_frames(tmp_path / "out") == FRAMES
    assert [path.name for path in result.paths] == ["frame_1001.exr", "frame_1002.exr", "frame_1003.exr"]
    assert [entry for entry in (tmp_path / "out").iterdir() if entry.name.startswith(".")] == []
    assert result.read["first"] == result.read["origfirst"] == 1001
    assert result.read["last"] == result.read["origlast"] == 1003
    assert result.read["file"].endswith("/out/frame_####.exr") and result.read["raw"] is True
    assert {"R", "G", "B", "A"} <= set(read_info(result.paths[0]).channels)
    beauty = read_frame(result.paths[1])["beauty"]
    assert beauty.shape == (HEIGHT, WIDTH, 4) and np.isfinite(beauty).all()
    assert seen[-1] == (3, 3, "published")


def test_extract_round_trip_writes_condition_layers(client, capture, tmp_path):
    request = plan_job({"op": "extract", "cond_depth": True, "cond_canny": True, "output_folder": str(tmp_path / "cond")},
                       input_first=1001, input_last=1002, channels=["rgba.red", "rgba.green", "rgba.blue", "depth.Z"],
                       fps=24, width=WIDTH, height=HEIGHT)
    result = run_session(client, "extract", list(request.frames), capture_source(capture, request.layers.buffers),
                         output_folder=request.output_folder, params=request.params, shot=request.shot)
    assert result.succeeded
    channels = read_info(result.paths[0]).channels
    assert {"control_depth.Y", "control_canny.Y"} <= set(channels)
    assert result.read["raw"] is True and result.read["label"] == "FrameBridge extract\ncond"


def test_failed_frames_publish_nothing_and_are_named(client, capture, tmp_path):
    result = run_session(client, "echo", FRAMES, capture_source(capture, ("beauty",)), output_folder=tmp_path / "out",
                         params={"fail": [1002]})
    assert not result.succeeded and sorted(result.failed) == [1002]
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(FrameFailed, match="frame 1002") as caught:
        result.raise_for_failure()
    assert caught.value.details == {"frames": [1002]}


def test_cancel_mid_job_leaves_no_result_files(client, capture, tmp_path):
    stored = []
    result = run_session(client, "echo", FRAMES, capture_source(capture, ("beauty",)), output_folder=tmp_path / "out",
                         params={"delay": 0.3}, progress=lambda done, total, stage: stored.append(done),
                         cancelled=lambda: bool(stored) and stored[-1] >= 1)
    assert result.state == "cancelled" and not result.succeeded
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(JobCancelled):
        result.raise_for_failure()


def test_a_frame_the_capture_cannot_give_is_named_and_nothing_is_published(client, tmp_path):
    def broken(number):
        raise ConnectionFileError("capture went missing")

    result = run_session(client, "echo", [1], broken, output_folder=tmp_path / "out", params={})
    assert not result.succeeded and isinstance(result.failed[1], ConnectionFileError)
    assert list((tmp_path / "out").iterdir()) == []


def test_an_unreachable_server_is_a_typed_error_with_a_fix_naming_the_node(unreachable_client):
    with pytest.raises(ServerUnreachable, match="no FrameBridge server answers at tcp://127.0.0.1:9") as caught:
        check_server(unreachable_client)
    assert "framebridge serve" in caught.value.fix and "FrameBridge node" in caught.value.fix


def test_another_protocol_major_is_refused_with_a_fix():
    from framebridge.protocol.errors import VersionMismatch

    with pytest.raises(VersionMismatch, match="protocol 2.0, this Nuke plugin speaks") as caught:
        check_server(StubClient(protocol="2.0"))
    assert "9.0.0" in caught.value.fix
    assert check_server(StubClient()).summary().startswith("FrameBridge 9.0.0 (protocol 1.0)")


def test_a_job_that_ends_without_every_result_publishes_nothing(tmp_path):
    from framebridge.protocol.client import DoneEvent

    result = run_session(StubClient(events=[DoneEvent("completed", [1, 2], {}, None)]), "echo", [1, 2], lambda n: {},
                         output_folder=tmp_path / "out", params={})
    assert result.state == "incomplete" and not result.succeeded
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(FrameFailed, match=r"without results for frames \[1, 2\]"):
        result.raise_for_failure()


def test_a_failed_job_raises_its_own_error():
    from framebridge.nuke_plugin.core.session import SessionResult
    from framebridge.protocol.errors import FrameBridgeError, InvalidParams

    with pytest.raises(InvalidParams, match="bad strength"):
        SessionResult("failed", error=InvalidParams("bad strength")).raise_for_failure()
    with pytest.raises(FrameBridgeError, match="state 'failed'"):
        SessionResult("failed").raise_for_failure()


def test_a_nearer_object_in_a_later_frame_widens_the_shot_depth_range():
    far = np.full((4, 4), 10.0, dtype=np.float32)
    near = far.copy()
    near[1, 1] = 0.5
    frames = {1: {"depth": far}, 2: {"depth": near}, 3: {"beauty": np.zeros((4, 4, 4), np.float32)}}
    assert shot_with_depth_range({}, frames.__getitem__, [1, 2, 3]) == {"depth_range": [0.5, 10.0]}
    assert shot_with_depth_range({"depth_range": [1.0, 2.0]}, frames.__getitem__, [1, 2]) == {"depth_range": [1.0, 2.0]}
    assert shot_with_depth_range({}, frames.__getitem__, [3]) == {}
