"""Write protocol/conformance/vectors/*.json: each request as its exact wire bytes under the fixed key and time.

Run from the repository root: ``python scripts/make_conformance_vectors.py``. The
files are deterministic (fixed key, ids, time and buffers), and a test checks that
the committed ones are what this script makes, so the bytes are those of the
reference encoder. What each vector expects back is written here, by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from framebridge.protocol.buffers import digest

ROOT = Path(__file__).resolve().parents[1] / "protocol" / "conformance"
KEY = (ROOT / "key.txt").read_text().strip().encode()
TAG = b"framebridge:1"
TIME = 1767225600.0  # 2026-01-01T00:00:00Z; a replayer re-stamps it
SESSION = "conformance"


class Vector:
    """One scenario: numbered messages, each with the replies the server must give."""

    def __init__(self, name: str, summary: str, server: str = "loopback"):
        self.name, self.summary, self.steps, self.server = name, summary, [], server

    def send(self, kind: str, body: dict[str, Any] | None = None, *, job: str | None = None,
             buffers: list[tuple[str, np.ndarray, int | None]] = (), expect: list[dict[str, Any]] = (),
             note: str = "", header: dict[str, Any] | None = None, frames: list[bytes] | None = None,
             replay: str = "restamp", **extra: Any) -> None:
        """A message (built from ``kind``/``body``, or given as ``header``/``frames``) and what must come back."""
        if header is None and frames is None:
            header = {"v": [1, 1], "type": kind, "id": f"{self.name}-{len(self.steps):02d}", "time": TIME,
                      "session": SESSION, "job": job, "reply_to": None, "body": body or {},
                      "buffers": [{"name": name, "dtype": array.dtype.name, "shape": list(array.shape), "frame": frame,
                                   "digest": digest(array)} for name, array, frame in buffers]}
        if frames is None:
            packed = msgpack.packb(header, use_bin_type=True)
            frames = [TAG, sign(TAG, packed), packed, *(array.tobytes() for _, array, _ in buffers)]
        if isinstance(header, dict) and header != msgpack.unpackb(frames[2], raw=False):
            raise ValueError(f"{self.name} step {len(self.steps)}: the header shown is not the header sent")
        step: dict[str, Any] = {"note": note} if note else {}
        step.update({key: extra.pop(key) for key in ("before", "skip") if key in extra})
        step["send"] = {"replay": replay, "header": header if isinstance(header, dict) else None,
                        "frames": [frame.hex() for frame in frames], **extra}
        step["expect"] = list(expect)
        self.steps.append(step)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "summary": self.summary, "server": self.server, "steps": self.steps}


def sign(tag: bytes, header: bytes, key: bytes = KEY) -> bytes:
    return hmac.new(key, tag + header, hashlib.sha256).hexdigest().encode()


def error(code: str, reply_to: str | None = "request", **body: Any) -> dict[str, Any]:
    return {"type": "error", "reply_to": reply_to, "body": {"code": code, **body}}


def reply(kind: str, **body: Any) -> dict[str, Any]:
    return {"type": kind, "reply_to": "request", "body": body}


def event(kind: str, buffers: dict[str, Any] | None = None, **body: Any) -> dict[str, Any]:
    found = {"type": kind, "reply_to": None, "job": "request", "body": body}
    if buffers:
        found["buffers"] = buffers
    return found


def as_sent(array: np.ndarray) -> dict[str, Any]:
    return {"dtype": array.dtype.name, "shape": list(array.shape), "hex": array.tobytes().hex()}


BEAUTY16 = (np.arange(18, dtype=np.float32).reshape(2, 3, 3) / 17).astype(np.float16)
DEPTH32 = np.array([[1.0, 2.5, 4.0], [8.0, 16.0, np.inf]], dtype=np.float32)
PLATE = np.full((2, 2, 3), 0.5, dtype=np.float32)


def vectors() -> list[Vector]:
    found = []

    v = Vector("ping", "ping and capabilities: the two requests without a job")
    v.send("ping", expect=[reply("pong", protocol_version="1.1")])
    v.send("capabilities", expect=[reply("capabilities", protocol_version="1.1", limits={"credit_window": 8, "max_buffers": 64},
                                         ops={"echo": {"backends": ["builtin"]}})])
    found.append(v)

    v = Vector("echo", "a job end to end: float16 and float32 buffers in one frame, float32 in the next; results, done, ack, status")
    v.send("submit", {"op": "echo", "frames": [1, 2], "params": {}, "shot": {}, "backend": None}, job="echo-job",
           expect=[reply("accepted", credit=8, total=2, backend="builtin")])
    v.send("frame", {"frame": 1}, job="echo-job", buffers=[("beauty", BEAUTY16, 1), ("depth", DEPTH32, 1)],
           note="mixed dtypes; an infinity travels as sent",
           expect=[event("progress", credit=9, received=1, total=2),
                   event("result", frame=1, buffers={"beauty": as_sent(BEAUTY16), "depth": as_sent(DEPTH32)})])
    v.send("frame", {"frame": 2}, job="echo-job", buffers=[("beauty", PLATE, 2)],
           expect=[event("result", frame=2, buffers={"beauty": as_sent(PLATE)}),
                   event("progress", credit=10, received=2, done=2, failed=0, total=2),
                   event("done", state="completed", frames=[1, 2], failed=[], error=None)])
    v.send("ack", {"frames": [1, 2]}, job="echo-job", note="ack has no reply")
    v.send("status", {"resend": True}, job="echo-job",
           note="with resend: the status, no result (all acknowledged), then done again",
           expect=[reply("status", op="echo", state="completed", frames=[1, 2], received=[1, 2], done=[1, 2], failed=[], credit=10),
                   event("done", state="completed", frames=[1, 2])])
    found.append(v)

    v = Vector("flow_control", "the credit window: frames past it are refused and not counted; the frame the op needs next is always taken")
    frames = list(range(1, 11))
    v.send("submit", {"op": "echo", "frames": frames, "params": {}, "shot": {}, "backend": None}, job="flow-job",
           expect=[reply("accepted", credit=8, total=10)])
    for number in range(2, 10):
        v.send("frame", {"frame": number}, job="flow-job", buffers=[("beauty", PLATE, number)],
               note="held: the op waits for frame 1" if number == 2 else "")
    v.send("frame", {"frame": 10}, job="flow-job", buffers=[("beauty", PLATE, 10)],
           note="9th frame in flight with credit 8: refused, not counted",
           expect=[error("credit_exceeded", details={"frame": 10, "credit": 8})])
    v.send("frame", {"frame": 1}, job="flow-job", buffers=[("beauty", PLATE, 1)],
           note="the frame the op needs next is taken even with the window full",
           expect=[event("progress", credit=9, received=9), *(event("result", frame=n) for n in range(1, 10)),
                   event("progress", credit=17, received=9, done=9)])
    v.send("frame", {"frame": 10}, job="flow-job", buffers=[("beauty", PLATE, 10)], note="sent again: now within credit",
           expect=[event("result", frame=10), event("progress", credit=18, received=10, done=10, total=10),
                   event("done", state="completed", frames=frames)])
    found.append(v)

    v = Vector("cancel", "cancel before any frame (done goes to the submitting connection) and after one")
    v.send("submit", {"op": "echo", "frames": [1, 2, 3], "params": {}, "shot": {}, "backend": None}, job="cancel-early",
           expect=[reply("accepted", credit=8, total=3)])
    v.send("cancel", job="cancel-early", expect=[reply("status", op="echo", frames=[1, 2, 3], received=[], done=[]),
                                                 event("done", state="cancelled", frames=[], failed=[])])
    v.send("submit", {"op": "echo", "frames": [1, 2, 3], "params": {}, "shot": {}, "backend": None}, job="cancel-late",
           expect=[reply("accepted", credit=8, total=3)])
    v.send("frame", {"frame": 1}, job="cancel-late", buffers=[("beauty", PLATE, 1)], expect=[event("result", frame=1)])
    v.send("cancel", job="cancel-late", expect=[reply("status", op="echo", received=[1], done=[1]),
                                                event("done", state="cancelled", frames=[1], failed=[])])
    v.send("frame", {"frame": 2}, job="cancel-late", buffers=[("beauty", PLATE, 2)], note="a frame of an ended job is ignored")
    v.send("status", job="cancel-late", expect=[reply("status", state="cancelled", received=[1], done=[1])])
    found.append(v)

    v = Vector("frame_failures", "every frame ends in done.frames or done.failed: op failures and frames the host could not produce")
    v.send("submit", {"op": "echo", "frames": [1, 2, 3, 4, 5], "params": {"fail": [2]}, "shot": {}, "backend": None},
           job="failures", expect=[reply("accepted", credit=8, total=5)])
    v.send("frame", {"frame": 1}, job="failures", buffers=[("beauty", PLATE, 1)], expect=[event("result", frame=1)])
    v.send("frame", {"frame": 2}, job="failures", buffers=[("beauty", PLATE, 2)], note="echo's fail param: frame_failed")
    for number, code in ((3, "bad_exr"), (4, "bad_media"), (5, "error")):
        v.send("frame", {"frame": number, "error": {"code": code, "message": f"the host could not read frame {number}",
                                                    "fix": None, "details": {}}}, job="failures",
               note=f"a frame the host could not produce ({code}), listed unchanged")
    v.steps[-1]["expect"] = [event("done", state="completed_with_failures", frames=[1], error=None, failed=[
        {"frames": [2], "error": {"code": "frame_failed"}}, {"frames": [3], "error": {"code": "bad_exr"}},
        {"frames": [4], "error": {"code": "bad_media"}}, {"frames": [5], "error": {"code": "error"}}])]
    found.append(v)

    v = Vector("op_failures", "restyle names each frame it cannot use: missing, non-finite and misshapen beauty")
    nan = PLATE.copy()
    nan[0, 0, 0] = np.nan
    v.send("submit", {"op": "restyle", "frames": [1, 2, 3], "params": {"cache": False, "temporal": False}, "shot": {},
                      "backend": "cpu"}, job="restyle-failures", expect=[reply("accepted", credit=8, total=3, backend="cpu")])
    v.send("frame", {"frame": 1}, job="restyle-failures", buffers=[("depth", PLATE[..., 0].copy(), 1)])
    v.send("frame", {"frame": 2}, job="restyle-failures", buffers=[("beauty", nan, 2)])
    v.send("frame", {"frame": 3}, job="restyle-failures", buffers=[("beauty", PLATE[..., :2].copy(), 3)],
           expect=[event("done", state="completed_with_failures", frames=[], failed=[
               {"frames": [1], "error": {"code": "missing_input", "details": {"buffer": "beauty"}}},
               {"frames": [2], "error": {"code": "non_finite", "details": {"buffer": "beauty"}}},
               {"frames": [3], "error": {"code": "shape_mismatch"}}])])
    found.append(v)

    v = Vector("timeout", "a job whose next frame does not come within the server's input timeout fails with timeout")
    v.send("submit", {"op": "echo", "frames": [1, 2], "params": {}, "shot": {}, "backend": None}, job="timeout-job",
           expect=[reply("accepted", credit=8, total=2)])
    v.send("frame", {"frame": 1}, job="timeout-job", buffers=[("beauty", PLATE, 1)], wait=30,
           expect=[event("result", frame=1), event("done", state="failed", frames=[1], failed=[{"frames": [2], "error": {"code": "timeout"}}],
                                                   error={"code": "timeout"})])
    found.append(v)

    v = Vector("studio_client", "an issued client of a CURVE server: the owner's view is forbidden to it, a model "
               "config that cannot be read, and revocation while connected", server="studio")
    v.send("jobs", note="only the server's owner may list every job", expect=[error("forbidden")])
    v.send("submit", {"op": "restyle", "frames": [1], "params": {}, "shot": {}, "backend": "diffusers"}, job="broken-config",
           note="this server's models config is not valid TOML", expect=[error("model_error")])
    v.send("submit", {"op": "echo", "frames": [1, 2], "params": {}, "shot": {}, "backend": None}, job="revoked-job",
           expect=[reply("accepted", credit=8, total=2)])
    v.send("ping", before={"action": "revoke", "wait": 3.0}, skip=["progress", "done"],
           note="the client is revoked on the server while connected: its job is ended and named, its next request refused",
           expect=[{"type": "error", "reply_to": None, "job": "any", "body": {"code": "client_revoked"}},
                   error("client_revoked")])
    found.append(v)

    found.append(_envelope_errors())
    found.append(_buffer_errors())
    found.append(_request_errors())
    return found


def _envelope_errors() -> Vector:
    v = Vector("envelope_errors", "checks 1-8 on receipt: each refusal, and whether it names the request")
    ping = lambda **fields: {"v": [1, 1], "type": "ping", "id": f"envelope_errors-{len(v.steps):02d}", "time": TIME,  # noqa: E731
                             "session": SESSION, "job": None, "reply_to": None, "body": {}, "buffers": [], **fields}
    v.send("ping", frames=[TAG, b"0" * 64], header=None, replay="verbatim", note="2 frames: no header to read",
           expect=[error("malformed_message", reply_to=None)])
    packed = msgpack.packb(ping(), use_bin_type=True)
    v.send("ping", header=ping(), frames=[b"hello", sign(b"hello", packed), packed], replay="resign",
           note="not a FrameBridge tag", expect=[error("malformed_message")])
    packed = msgpack.packb(ping(), use_bin_type=True)
    v.send("ping", header=ping(), frames=[b"framebridge:2", sign(b"framebridge:2", packed), packed], replay="resign",
           note="another major in the tag", expect=[error("version_mismatch")])
    v.send("ping", header=ping(v=[2, 0]), note="another major in v", expect=[error("version_mismatch")])
    header = ping()
    packed = msgpack.packb(header, use_bin_type=True)
    v.send("ping", header=header, frames=[TAG, sign(TAG, packed, b"not the key"), packed], replay="verbatim",
           note="signed with another key", expect=[error("bad_signature")])
    v.send("ping", header=ping(), frames=[TAG, b"", msgpack.packb(ping(), use_bin_type=True)], replay="verbatim",
           note="unsigned", expect=[error("bad_signature")])
    garbage = b"\xc1 not msgpack"
    v.send("ping", header=None, frames=[TAG, sign(TAG, garbage), garbage], replay="resign",
           note="signed, but not msgpack: nothing to name", expect=[error("malformed_message", reply_to=None)])
    repeated = b"\x82\xa4type\xa4ping\xa4type\xa4jobs"
    v.send("ping", header=None, frames=[TAG, sign(TAG, repeated), repeated], replay="resign",
           note="a map that repeats a key", expect=[error("malformed_message", reply_to=None)])
    header = ping()
    del header["id"]
    v.send("ping", header=header, note="no id", expect=[error("malformed_message", reply_to=None)])
    header = ping(id="i" * 129)
    packed = msgpack.packb(header, use_bin_type=True)
    v.send("ping", header=header, frames=[TAG, sign(TAG, packed), packed], replay="resign",
           note="an id of 129 characters: refused, and too long to be named", expect=[error("malformed_message", reply_to=None)])
    v.send("ping", header=ping(time=int(TIME)), note="an integer time is accepted", expect=[reply("pong")])
    v.send("teleport", header={**ping(), "type": "teleport"}, note="a type servers do not take",
           expect=[error("unknown_message_type")])
    v.send("ping", note="first use of an id", expect=[reply("pong")])
    v.send("ping", same_id_as=len(v.steps) - 1, note="the same id again", expect=[error("replayed_message")])
    v.send("ping", time_offset=-1000, note="1000 s off the server's clock", expect=[error("replayed_message")])
    header = ping()
    packed = msgpack.packb(header, use_bin_type=True)
    v.send("ping", header=header, frames=[TAG, sign(TAG, packed), packed, *[b""] * 65], replay="restamp",
           note="3 + 65 frames: more than max_buffers", expect=[error("message_too_large")])
    return v


def _buffer_errors() -> Vector:
    v = Vector("buffer_errors", "check 9 and 11: descriptors and buffer bytes (no job is needed: they come first)")

    def frame(descriptor: dict[str, Any], data: bytes, note: str, code: str) -> None:
        header = {"v": [1, 1], "type": "frame", "id": f"buffer_errors-{len(v.steps):02d}", "time": TIME, "session": SESSION,
                  "job": "no-such-job", "reply_to": None, "body": {"frame": 1},
                  "buffers": [{"name": "beauty", "frame": 1, **descriptor}]}
        packed = msgpack.packb(header, use_bin_type=True)
        v.send("frame", header=header, frames=[TAG, sign(TAG, packed), packed, data], note=note, expect=[error(code)])

    data = PLATE.tobytes()
    frame({"dtype": "float64", "shape": [2, 2, 3], "digest": digest(PLATE)}, data, "a dtype outside the four", "dtype_not_allowed")
    frame({"dtype": "float32", "shape": [2, 2, 4], "digest": digest(PLATE)}, data, "fewer bytes than the shape needs", "shape_mismatch")
    frame({"dtype": "float32", "shape": [2, 2, 3], "digest": "0" * 32}, data, "bytes that do not match the digest", "digest_mismatch")
    frame({"dtype": "uint8", "shape": [20000, 1], "digest": "0" * 32}, b"", "taller than max_height (checked before the bytes)", "frame_too_large")
    return v


def _request_errors() -> Vector:
    v = Vector("request_errors", "refusals of well-formed requests")
    submit = lambda **body: {"op": "echo", "frames": [1], "params": {}, "shot": {}, "backend": None, **body}  # noqa: E731
    v.send("submit", submit(op="teleport"), job="bad-op", expect=[error("unknown_op")])
    v.send("submit", submit(params={"delay": 99}), job="bad-params", expect=[error("invalid_params")])
    v.send("submit", submit(params={"colour": "red"}), job="bad-param-name", expect=[error("invalid_params", details={"allowed": ["delay", "fail"]})])
    v.send("submit", submit(frames=[1, 1]), job="repeated-frames", expect=[error("invalid_params")])
    v.send("submit", submit(), note="no job id", expect=[error("malformed_message")])
    v.send("submit", submit(frames="1-10"), job="frames-text", note="a body field of the wrong type", expect=[error("malformed_message")])
    v.send("submit", submit(op="restyle", backend="diffusers"), job="no-model",
           note="the server's models config names no restyle model", expect=[error("model_not_found")])
    v.send("submit", submit(op="lipsync", params={"sample_rate": 16000}), job="silent",
           buffers=[("audio", np.zeros(0, np.float32), None)], note="a job-level audio track of no samples",
           expect=[error("bad_audio")])
    v.send("submit", submit(), job="taken", expect=[reply("accepted", credit=8, total=1)])
    v.send("submit", submit(), job="taken", note="a job id in use", expect=[error("invalid_params")])
    v.send("frame", {"frame": 7}, job="taken", buffers=[("beauty", PLATE, 7)], note="a frame not in the job",
           expect=[error("invalid_params")])
    v.send("jobs", note="the server's owner (a loopback server has no other principal)",
           expect=[reply("jobs")])
    v.send("cancel", job="taken", expect=[reply("status", op="echo"), event("done", state="cancelled")])
    for kind, body in (("status", {}), ("cancel", {}), ("ack", {"frames": [1]}), ("frame", {"frame": 1})):
        v.send(kind, body, job="never-submitted", expect=[error("unknown_job")])
    v.send("status", note="a job-bound request without a job", expect=[error("unknown_job")])
    for index in range(16):
        v.send("submit", submit(), job=f"busy-{index:02d}", expect=[reply("accepted")],
               note="16 jobs queued on one connection" if index == 0 else "")
    v.send("submit", submit(), job="busy-16", note="the 17th", expect=[error("server_busy")])
    for index in range(16):
        v.send("cancel", job=f"busy-{index:02d}", expect=[reply("status"), event("done", state="cancelled")])
    return v


def main() -> int:
    folder = ROOT / "vectors"
    folder.mkdir(exist_ok=True)
    for vector in vectors():
        (folder / f"{vector.name}.json").write_text(json.dumps(vector.to_json(), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
