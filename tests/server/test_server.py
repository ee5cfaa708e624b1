"""The server through a real `framebridge serve` process over tcp loopback."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import subprocess
import sys
import threading
import time

import msgpack
import numpy as np
import pytest
import xxhash
import zmq

from framebridge.server.launch import spawn_server
from framebridge.protocol import Client
from framebridge.protocol.errors import (
    CreditExceeded,
    DigestMismatch,
    DtypeNotAllowed,
    FrameTooLarge,
    InsecureBind,
    InvalidParams,
    MalformedMessage,
    MessageTooLarge,
    ReplayedMessage,
    ServerUnreachable,
    ShapeMismatch,
    SignatureInvalid,
    UnknownJob,
    UnknownMessageType,
    UnknownOp,
    error_from_wire,
)
from framebridge.protocol.messages import REPLIES, ErrorReply, Ping, StatusRequest
from framebridge.protocol.version import PROTOCOL_VERSION
from framebridge.protocol.wire import TAG, Codec, new_id


class RawPeer:
    """A bare DEALER that sends exactly the frames a test builds."""

    def __init__(self, server):
        self.info = server.connection
        self.codec = Codec(self.info.key, incoming=REPLIES)
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(self.info.address)

    def send(self, frames):
        self.socket.send_multipart(frames)

    def receive(self, timeout=5.0):
        assert self.socket.poll(int(timeout * 1000)), "no reply from the server"
        return self.codec.decode(self.socket.recv_multipart())

    def expect_error(self, frames, error_class, timeout=5.0):
        self.send(frames)
        while True:
            reply = self.receive(timeout)
            if isinstance(reply.body, ErrorReply):
                error = error_from_wire(reply.body.to_wire())
                assert isinstance(error, error_class), f"expected {error_class.__name__}, got {error!r}"
                return error

    def forge(self, header, buffers=(), key=None, tag=TAG):
        packed = msgpack.packb(header, use_bin_type=True)
        signature = hmac.new(key or self.info.key, tag + packed, hashlib.sha256).hexdigest().encode()
        return [tag, signature, packed, *buffers]

    def close(self):
        self.socket.close(linger=0)
        self.context.term()


def header(**overrides):
    base = {"v": [1, 0], "type": "ping", "id": new_id(), "time": time.time(), "session": "raw", "job": None,
            "reply_to": None, "body": {}, "buffers": []}
    return {**base, **overrides}


@pytest.fixture
def raw(server):
    peer = RawPeer(server)
    yield peer
    peer.close()


@pytest.fixture
def another_client_works(server):
    """After each bad-input test, a different client still gets served."""
    yield
    with server.client(timeout=5) as client:
        assert client.ping()["protocol_version"] == PROTOCOL_VERSION
        frames = {1: {"beauty": np.arange(12, dtype=np.float32).reshape(2, 2, 3)}}
        outcome = client.submit("echo", [1], frames).wait(timeout=10)
        np.testing.assert_array_equal(outcome.results[1]["beauty"], frames[1]["beauty"])
    assert server.alive()


def frame_source(shape, dtype, seed=0):
    def source(number):
        rng = np.random.default_rng(seed * 100_000 + number)
        if np.dtype(dtype).kind == "f":
            data = rng.standard_normal(shape).astype(dtype)
        else:
            data = rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype)
        return {"beauty": data}
    return source


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float16", "float32"])
def test_every_allowed_dtype_round_trips_bit_exact(server, dtype):
    source = frame_source((48, 64, 4), dtype)
    with server.client() as client:
        outcome = client.submit("echo", [1001, 1002, 1003], source).wait(timeout=30)
    assert outcome.state == "completed"
    for number in (1001, 1002, 1003):
        result = outcome.results[number]["beauty"]
        assert result.dtype == np.dtype(dtype) and result.shape == (48, 64, 4)
        assert result.tobytes() == source(number)["beauty"].tobytes()


def test_several_passes_and_audio_travel_together(server):
    rng = np.random.default_rng(3)
    frame = {"beauty": rng.random((16, 24, 4), dtype=np.float32).astype(np.float16),
             "depth": rng.random((16, 24), dtype=np.float32),
             "object_index": np.full((16, 24), 3, np.float32),
             "audio": rng.standard_normal(1600).astype(np.float32)}
    with server.client() as client:
        outcome = client.submit("echo", [7], {7: frame}).wait(timeout=30)
    for name, array in frame.items():
        assert outcome.results[7][name].tobytes() == array.tobytes()


def test_capabilities_list_ops_limits_and_versions(server):
    with server.client() as client:
        capabilities = client.capabilities()
    assert "echo" in capabilities["ops"]
    assert capabilities["limits"]["credit_window"] == 8
    assert capabilities["protocol_version"] == PROTOCOL_VERSION
    assert "python" in capabilities["versions"]


def test_results_stream_before_the_job_ends(server):
    with server.client() as client:
        job = client.submit("echo", list(range(6)), frame_source((8, 8), "uint8"), params={"delay": 0.2})
        kinds = [type(event).__name__ for event in job]
    first_result = kinds.index("ResultEvent")
    assert kinds[-1] == "DoneEvent"
    assert first_result < kinds.index("DoneEvent") and kinds.count("ResultEvent") == 6
    assert "ProgressEvent" in kinds[first_result:]


def test_failed_frames_are_named(server):
    with server.client() as client:
        outcome = client.submit("echo", [1, 2, 3], frame_source((4, 4), "uint8"), params={"fail": [2]}).wait(timeout=10)
    assert sorted(outcome.results) == [1, 3]
    assert list(outcome.failed) == [2] and outcome.failed[2].code == "frame_failed"
    assert outcome.state == "completed_with_failures"


def test_bytes_that_are_not_msgpack(server, raw, another_client_works):
    packed = b"\xc1\xc1 certainly not msgpack"
    signature = hmac.new(raw.info.key, TAG + packed, hashlib.sha256).hexdigest().encode()
    raw.expect_error([TAG, signature, packed], MalformedMessage)


def test_garbage_frames(server, raw, another_client_works):
    raw.expect_error([b"hello"], MalformedMessage)


def test_wrong_signature(server, raw, another_client_works):
    raw.expect_error(raw.forge(header(), key=b"wrong" * 13), SignatureInvalid)


def test_missing_signature(server, raw, another_client_works):
    frames = raw.forge(header())
    frames[1] = b""
    raw.expect_error(frames, SignatureInvalid)


def test_replayed_message(server, raw, another_client_works):
    frames = raw.forge(header())
    raw.send(frames)
    assert raw.receive().type == "pong"
    raw.expect_error(frames, ReplayedMessage)


def test_unknown_message_type(server, raw, another_client_works):
    raw.expect_error(raw.forge(header(type="shutdown")), UnknownMessageType)


def test_unknown_op(server, another_client_works):
    with server.client() as client, pytest.raises(UnknownOp) as caught:
        client.submit("teleport", [1], {})
    assert "echo" in caught.value.details["allowed"]


def test_invalid_params_are_refused_before_any_frame(server, another_client_works):
    with server.client() as client, pytest.raises(InvalidParams, match="delay"):
        client.submit("echo", [1], {}, params={"delay": -1})


def test_unknown_job(server, another_client_works):
    with server.client() as client, pytest.raises(UnknownJob):
        client.attach("no-such-job")


def submit_raw(raw, job, frames, params=None):
    raw.send(raw.forge(header(type="submit", job=job, body={"op": "echo", "frames": frames, "params": params or {}})))
    reply = raw.receive()
    assert reply.type == "accepted", reply
    return reply


def frame_message(raw, job, number, data, **descriptor_overrides):
    descriptor = {"name": "beauty", "dtype": str(data.dtype), "shape": list(data.shape), "frame": number,
                  "digest": xxhash.xxh3_128_hexdigest(data.tobytes()), **descriptor_overrides}
    return raw.forge(header(type="frame", job=job, body={"frame": number}, buffers=[descriptor]), [data.tobytes()])


def test_disallowed_dtype(server, raw, another_client_works):
    submit_raw(raw, "raw-dtype", [1])
    data = np.zeros((4, 4), np.float64)
    raw.expect_error(frame_message(raw, "raw-dtype", 1, data), DtypeNotAllowed)


def test_shape_nbytes_mismatch(server, raw, another_client_works):
    submit_raw(raw, "raw-shape", [1])
    data = np.zeros((4, 4), np.float32)
    raw.expect_error(frame_message(raw, "raw-shape", 1, data, shape=[4, 5]), ShapeMismatch)


def test_digest_mismatch(server, raw, another_client_works):
    submit_raw(raw, "raw-digest", [1])
    data = np.zeros((4, 4), np.float32)
    raw.expect_error(frame_message(raw, "raw-digest", 1, data, digest="f" * 32), DigestMismatch)


def test_more_frames_in_flight_than_the_credit_window(server, raw, another_client_works):
    submit_raw(raw, "raw-credit", list(range(20)), params={"delay": 1.0})
    data = np.zeros((4, 4), np.uint8)
    for number in range(20):
        raw.send(frame_message(raw, "raw-credit", number, data))
    errors = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not errors:
        reply = raw.receive()
        if isinstance(reply.body, ErrorReply):
            errors.append(error_from_wire(reply.body.to_wire()))
    assert errors and isinstance(errors[0], CreditExceeded)
    raw.send(raw.forge(header(type="cancel", job="raw-credit")))


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    running = spawn_server(tmp_path_factory.mktemp("small"), "--max-message-mb", "1", "--max-dimension", "64")
    yield running
    running.stop()


def test_oversize_message(small_server):
    peer = RawPeer(small_server)
    try:
        parts = [np.zeros((300, 300, 2), np.float32) for _ in range(2)]  # 720 KB each, 1.4 MB together
        descriptors = [{"name": f"b{n}", "dtype": "float32", "shape": [300, 300, 2], "frame": 1,
                        "digest": xxhash.xxh3_128_hexdigest(part.tobytes())} for n, part in enumerate(parts)]
        frames = peer.forge(header(type="frame", job="x", body={"frame": 1}, buffers=descriptors),
                            [part.tobytes() for part in parts])
        peer.expect_error(frames, MessageTooLarge)
        with small_server.client() as client:
            assert client.ping()
    finally:
        peer.close()


def test_a_single_frame_over_the_message_limit_gets_a_typed_error(small_server):
    peer = RawPeer(small_server)
    try:
        part = np.zeros((600, 600), np.float32)  # 1.44 MB in one frame, over the 1 MiB limit
        descriptor = {"name": "b", "dtype": "float32", "shape": [600, 600], "frame": 1,
                      "digest": xxhash.xxh3_128_hexdigest(part.tobytes())}
        peer.expect_error(peer.forge(header(type="frame", job="x", body={"frame": 1}, buffers=[descriptor]),
                                     [part.tobytes()]), MessageTooLarge)
    finally:
        peer.close()


def test_frame_larger_than_the_limits(small_server):
    with small_server.client() as client:
        job = client.submit("echo", [1], {1: {"beauty": np.zeros((65, 10), np.uint8)}})
        with pytest.raises(FrameTooLarge):
            job.wait(timeout=10)
        frames = {1: {"beauty": np.ones((64, 64), np.uint8)}}
        assert client.submit("echo", [1], frames).wait(timeout=10).state == "completed"


def test_cancel_stops_a_slow_op_within_one_frame(server):
    with server.client() as client:
        job = client.submit("echo", list(range(10)), frame_source((8, 8), "uint8"), params={"delay": 0.5})
        while not job.received:
            job.step(timeout=0.1)
        cancelled_after = len(job.received)
        job.cancel()
        outcome = job.wait(timeout=10)
    assert outcome.state == "cancelled"
    assert len(outcome.results) <= cancelled_after + 1


def test_disconnect_mid_job_then_reconnect_recovers_every_result(server):
    frames = list(range(1, 13))
    source = frame_source((32, 32, 3), "float32", seed=7)
    with server.client() as client:
        job = client.submit("echo", frames, source, params={"delay": 0.1})
        while len(job.received) < 3:
            job.step(timeout=0.1)
        client.reconnect()
        time.sleep(0.5)  # results produced while no one listens
        job.resume()
        outcome = job.wait(timeout=30)
    assert outcome.state == "completed"
    assert sorted(outcome.results) == frames
    for number in frames:
        assert outcome.results[number]["beauty"].tobytes() == source(number)["beauty"].tobytes()


def test_results_spilled_to_disk_are_recovered_after_a_reconnect(tmp_path):
    source = frame_source((64, 64, 4), "float32", seed=11)
    with spawn_server(tmp_path, "--retain-mb", "0") as running, running.client() as client:
        job = client.submit("echo", list(range(6)), source, params={"delay": 0.05})
        while not job.received:
            job.step(timeout=0.1)
        client.reconnect()
        time.sleep(0.5)
        job.resume()
        outcome = job.wait(timeout=30)
    assert sorted(outcome.results) == list(range(6))
    assert all(outcome.results[n]["beauty"].tobytes() == source(n)["beauty"].tobytes() for n in range(6))


def test_requests_are_answered_while_an_op_runs(server):
    with server.client() as client, server.client() as other:
        job = client.submit("echo", [1, 2], frame_source((8, 8), "uint8"), params={"delay": 3.0})
        job.step(timeout=0.2)
        assert other.ping(timeout=2.5)["protocol_version"] == PROTOCOL_VERSION
        assert "echo" in other.capabilities(timeout=2.5)["ops"]
        status = other.request(StatusRequest(), job=job.id, timeout=2.5).body
        assert status.state == "running" and status.done == []
        job.cancel()
        assert job.wait(timeout=10).state == "cancelled"


def test_callback_form_sees_every_event(server):
    events = []
    with server.client() as client:
        outcome = client.submit("echo", [1, 2, 3], frame_source((4, 4), "uint8")).wait(on_event=events.append, timeout=10)
    results = [event.frame for event in events if type(event).__name__ == "ResultEvent"]
    assert sorted(results) == [1, 2, 3] == sorted(outcome.results)
    assert type(events[-1]).__name__ == "DoneEvent" and events[-1].state == "completed"


def test_a_new_client_can_attach_to_a_job_and_fetch_its_results(server):
    source = frame_source((8, 8), "uint16", seed=9)
    first = server.client()
    job = first.submit("echo", [1, 2, 3], source, job_id="attach-me")
    job.step(timeout=0.2)
    first.close()
    with server.client() as second:
        outcome = second.attach("attach-me", source).wait(timeout=30)
    assert outcome.state == "completed" and sorted(outcome.results) == [1, 2, 3]
    assert all(outcome.results[n]["beauty"].tobytes() == source(n)["beauty"].tobytes() for n in (1, 2, 3))


def test_four_concurrent_clients_lose_and_duplicate_nothing(server):
    failures = []

    def run(client_number):
        source = frame_source((24, 32, 4), "float16", seed=client_number)
        seen = []
        try:
            with server.client() as client:
                job = client.submit("echo", list(range(50)), source, keep_results=False)
                for event in job:
                    if type(event).__name__ == "ResultEvent":
                        expected = source(event.frame)["beauty"]
                        assert xxhash.xxh3_128_hexdigest(event.buffers["beauty"].tobytes()) == \
                            xxhash.xxh3_128_hexdigest(expected.tobytes())
                        seen.append(event.frame)
            assert sorted(seen) == list(range(50)), f"client {client_number} got {len(seen)} results"
        except Exception as error:  # collected and reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    assert not failures, failures


def test_unreachable_server_gives_a_clear_error(tmp_path):
    from framebridge.protocol import ConnectionInfo

    info = ConnectionInfo("tcp://127.0.0.1:9", b"k" * 64)
    with Client(connection=info, timeout=0.5) as client, pytest.raises(ServerUnreachable, match="framebridge serve"):
        client.ping()


def test_connection_file_is_owner_only(server):
    assert stat.S_IMODE(os.stat(server.connection_file).st_mode) == 0o600


def test_non_loopback_bind_is_refused_without_curve(tmp_path):
    result = subprocess.run([sys.executable, "-m", "framebridge.server", "serve", "--address", "tcp://0.0.0.0:5599",
                             "--connection-file", str(tmp_path / "c.json")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert InsecureBind.code in result.stderr and "--curve" in result.stderr


def test_curve_encrypted_server_serves_a_client(tmp_path):
    running = spawn_server(tmp_path, "--curve")
    try:
        assert running.connection.curve_public
        with running.client() as client:
            assert client.ping()["protocol_version"] == PROTOCOL_VERSION
    finally:
        running.stop()


def test_ping_command(server):
    result = subprocess.run([sys.executable, "-m", "framebridge.server", "ping", "--connection-file",
                             str(server.connection_file)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and f"protocol {PROTOCOL_VERSION}" in result.stdout


def test_protocol_import_pulls_in_no_heavy_or_host_modules():
    code = ("import sys, framebridge.protocol, framebridge.protocol.client, framebridge.protocol.wire,"
            " framebridge.protocol.session, framebridge.protocol.sequence, framebridge.protocol.frames;"
            "print(sorted(m for m in ('torch', 'bpy', 'nuke', 'cv2', 'diffusers', 'transformers', 'OpenEXR') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_messages_of_unknown_fields_from_a_newer_minor_version_are_accepted(server, raw):
    raw.send(raw.forge(header(v=[1, 9], body={"future": 1})))
    assert raw.receive().type == "pong"


def test_submit_needs_a_job_id(server, raw, another_client_works):
    raw.expect_error(raw.forge(header(type="submit", body={"op": "echo", "frames": [1]})), MalformedMessage)


def test_client_session_survives_its_own_bad_request(server):
    with server.client() as client:
        with pytest.raises(UnknownOp):
            client.submit("nope", [1], {})
        assert client.request(Ping()).type == "pong"
        assert client.submit("echo", [1], {1: {"x": np.zeros(3, np.float32)}}).wait(timeout=10).state == "completed"



def test_serve_flags_choose_the_models_config_and_the_cache(tmp_path):
    config = tmp_path / "models.toml"
    config.write_text("[loras]\n")
    with spawn_server(tmp_path / "srv", "--models-config", str(config), "--cache-dir", str(tmp_path / "cache")) as running:
        with running.client() as client:
            backends = client.capabilities()["ops"]["restyle"]["backends"]
            assert backends["diffusers"]["config"] == str(config)
            frames = {1: {"beauty": np.full((8, 8, 3), 0.5, np.float32)}}
            assert client.submit("restyle", [1], frames).wait(timeout=60).state == "completed"
    assert list((tmp_path / "cache").rglob("*.npy"))


@pytest.mark.parametrize("dtype", [["float32"], {"a": 1}, 7])
def test_a_non_string_dtype_is_malformed_and_the_server_lives(server, raw, another_client_works, dtype):
    descriptor = {"name": "b", "dtype": dtype, "shape": [2, 2], "frame": 1, "digest": "0" * 32}
    raw.expect_error(raw.forge(header(type="frame", job="x", body={"frame": 1}, buffers=[descriptor]), [b"\0" * 16]),
                     DtypeNotAllowed)


def test_a_non_finite_time_is_refused(server, raw, another_client_works):
    raw.expect_error(raw.forge(header(time=float("nan"))), MalformedMessage)


@pytest.mark.parametrize("job_id", ["..", ".", ".hidden", "a/b", "x" * 65])
def test_job_ids_cannot_name_paths(server, raw, another_client_works, job_id):
    raw.expect_error(raw.forge(header(type="submit", job=job_id, body={"op": "echo", "frames": [1]})), MalformedMessage)


def test_frames_sent_out_of_order_cannot_wedge_the_credit_window(server, raw):
    frames = list(range(1, 11))
    submit_raw(raw, "out-of-order", frames)
    data = np.zeros((2, 2), np.uint8)
    for number in [3, 4, 5, 6, 7, 8, 9, 10, 1]:  # the window is full before frame 1 comes, which the op needs first
        raw.send(frame_message(raw, "out-of-order", number, data))
    results, errors = set(), []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(results) < 10 and not errors:
        reply = raw.receive()
        if reply.type == "result":
            results.add(reply.body.frame)
            if reply.body.frame == 1:
                raw.send(frame_message(raw, "out-of-order", 2, data))
        elif reply.type == "error":
            errors.append(reply.body.code)
    assert results == set(frames) and not errors


@pytest.fixture
def one_worker_server(tmp_path):
    with spawn_server(tmp_path, "--workers", "1") as running:
        yield running


def test_a_client_that_goes_quiet_holds_no_one_else_up(one_worker_server):
    with one_worker_server.client() as quiet, one_worker_server.client() as other:
        stalled = quiet.submit("echo", [1, 2, 3], frame_source((4, 4), "uint8"), in_flight=1)
        while not stalled.received:
            stalled.step(timeout=0.1)  # frame 1 went through; frames 2 and 3 are never sent
        outcome = other.submit("echo", [1], frame_source((4, 4), "uint8")).wait(timeout=20)
        assert outcome.state == "completed"
        stalled.cancel()


def test_cancelling_a_queued_job_ends_it_without_waiting_for_the_running_one(one_worker_server):
    with one_worker_server.client() as busy, one_worker_server.client() as queued:
        slow = busy.submit("echo", [1, 2, 3, 4], frame_source((4, 4), "uint8"), params={"delay": 2.0})
        slow.step(timeout=0.5)
        waiting = queued.submit("echo", [1], frame_source((4, 4), "uint8"))
        waiting.step(timeout=0.3)
        waiting.cancel()
        assert waiting.wait(timeout=1.5).state == "cancelled"
        assert not slow.finished, "the running job was not waited for"
        slow.cancel()


def test_frames_the_host_cannot_read_are_named_and_the_rest_are_returned(server):
    def source(number):
        if number == 2:
            raise OSError("disk on fire")
        return {"beauty": np.full((4, 4), number, np.uint8)}

    with server.client() as client:
        outcome = client.submit("echo", [1, 2, 3], source).wait(timeout=20)
    assert sorted(outcome.results) == [1, 3] and list(outcome.failed) == [2]
    assert "disk on fire" in str(outcome.failed[2]) and outcome.state == "completed_with_failures"


def test_a_failed_long_job_reports_every_frame_in_one_small_message(tmp_path):
    frames = list(range(12_000))
    with spawn_server(tmp_path, "--input-timeout", "1") as running, running.client() as client:
        job = client.submit("echo", frames, lambda number: {"x": np.zeros(1, np.float32)}, in_flight=1)
        while not job.received:
            job.step(timeout=0.1)
        time.sleep(1.5)  # the client goes quiet after frame 0; the server times the job out
        outcome = job.wait(timeout=60)
    assert outcome.state == "failed" and 0 in outcome.results
    assert set(outcome.failed) | set(outcome.results) == set(frames) and outcome.failed[11_999].code == "timeout"


def test_thousands_of_distinct_frame_failures_still_fit_one_message(server):
    frames = list(range(3_000))

    def source(number):
        raise OSError(f"no file for frame {number}")

    with server.client() as client:
        outcome = client.submit("echo", frames, source).wait(timeout=120)
    assert sorted(outcome.failed) == frames and not outcome.results
    assert "no file for frame 7" in str(outcome.failed[7]) and outcome.failed[2_999].code == "frame_failed"


def test_too_many_jobs_at_once_is_a_busy_server(tmp_path):
    from framebridge.protocol.errors import ServerBusy
    from framebridge.server.server import MAX_ACTIVE_JOBS

    with spawn_server(tmp_path) as running, running.client() as client:
        for number in range(MAX_ACTIVE_JOBS):
            client.submit("echo", [1], {}, job_id=f"idle-{number}")
        with pytest.raises(ServerBusy):
            client.submit("echo", [1], {})
        assert client.ping()
