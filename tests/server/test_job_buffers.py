"""Job-level buffers: sent once with the submit, checked like frame buffers, refused by ops that take none."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.protocol.buffers import digest
from framebridge.protocol.errors import DtypeNotAllowed, InvalidParams
from framebridge.server.ops.base import check_job_buffers
from framebridge.server.ops.echo import EchoOp
from framebridge.server.ops.extract import ExtractOp
from framebridge.server.runner import run_sequence


def test_job_buffers_reach_the_op_through_a_real_server(server):
    portrait = np.random.default_rng(1).random((32, 24, 3), dtype=np.float32)
    audio = np.random.default_rng(2).standard_normal(4800).astype(np.float32)
    frames = {n: {"beauty": np.full((4, 4, 3), n, np.float16)} for n in (1, 2)}
    with server.client() as client:
        job = client.submit("echo", [1, 2], frames, job_buffers={"source": portrait, "audio": audio})
        metas = {event.frame: event.meta for event in job if hasattr(event, "meta")}
    assert set(metas) == {1, 2}
    for meta in metas.values():
        assert meta["job_buffers"] == {"audio": digest(audio), "source": digest(portrait)}


def test_an_op_that_takes_no_job_buffers_refuses_them_by_name(server):
    with server.client() as client, pytest.raises(InvalidParams, match="portrait") as caught:
        client.submit("extract", [1], {}, params={"conditions": ["canny"]},
                      job_buffers={"portrait": np.zeros((4, 4, 3), np.float32)})
    assert caught.value.details["buffers"] == ["portrait"]
    with server.client() as client:
        assert client.ping()


def test_job_buffers_obey_the_dtype_whitelist(server):
    with server.client() as client, pytest.raises(DtypeNotAllowed):
        client.submit("echo", [1], {}, job_buffers={"source": np.zeros((4, 4), np.float64)})


def test_check_job_buffers_lists_what_an_op_takes():
    check_job_buffers({"audio": np.zeros(4, np.float32)}, {"audio": "mono PCM"})
    with pytest.raises(InvalidParams, match=r"audio \(mono PCM\)"):
        check_job_buffers({"source": np.zeros(4, np.float32)}, {"audio": "mono PCM"})


def test_prepare_sees_job_buffers_and_ops_without_them_refuse():
    portrait = np.ones((8, 8, 3), np.float32)
    plan = EchoOp().prepare({}, {}, [1], None, {"source": portrait})
    assert plan["meta"]["job_buffers"] == {"source": digest(portrait)}
    with pytest.raises(InvalidParams):
        ExtractOp().prepare({"conditions": ["canny"]}, {}, [1], None, {"source": portrait})


def test_framebridge_run_sends_job_buffers_in_process(tmp_path):
    import cv2

    for number in (1, 2):
        cv2.imwrite(str(tmp_path / f"in_{number:04d}.png"), np.full((6, 8, 3), 40 * number, np.uint8))
    audio = np.linspace(-1, 1, 800, dtype=np.float32)
    report = run_sequence("echo", str(tmp_path / "in_####.png"), str(tmp_path / "out_####.exr"),
                          job_buffers={"audio": audio})
    assert sorted(report.written) == [1, 2] and not report.failed
    assert report.meta[1]["job_buffers"] == {"audio": digest(audio)}
