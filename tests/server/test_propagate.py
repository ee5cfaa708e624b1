"""The propagate op on a shot real Blender renders: objects cross and leave the frame while the camera pans."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures.blender import DEMO_SCENE
from framebridge.protocol import passes
from framebridge.protocol.errors import InvalidParams, MissingInput, ShapeMismatch
from framebridge.protocol.exr import read_frame, read_layers
from framebridge.server.colour import display_to_linear, linear_to_display
from framebridge.server.ops.base import FrameFailure, InputFrame, JobContext
from framebridge.server.ops.propagate import PropagateOp

SHOT_FRAMES = 24


@pytest.fixture(scope="session")
def crossing_render(tmp_path_factory) -> Path:
    """24 frames at 160x96 of the demo scene with crossing objects and a camera pan, flat shaded (no shadows)."""
    folder = tmp_path_factory.mktemp("crossing")
    command = [sys.executable, str(DEMO_SCENE), "--out", str(folder), "--frames", str(SHOT_FRAMES), "--width", "160",
               "--height", "96", "--samples", "16", "--no-cryptomatte", "--crossing", "1.0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"Blender render failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return folder


@pytest.fixture(scope="session")
def crossing_shot(crossing_render) -> dict[int, dict[str, np.ndarray]]:
    return {number: read_frame(crossing_render / f"frame_{number:04d}.exr") for number in range(1, SHOT_FRAMES + 1)}


def style(beauty: np.ndarray) -> np.ndarray:
    """A deterministic per-pixel look of the render: channels swapped and re-curved in display values."""
    display = linear_to_display(np.clip(beauty[..., :3], 0.0, 1.0))
    looked = np.stack([display[..., 1] * 0.9 + 0.1, display[..., 2] ** 0.8, 1.0 - display[..., 0]], axis=-1)
    return display_to_linear(np.clip(looked, 0.0, 1.0)).astype(np.float32)


def propagate(shot, frames, keys, params=None, op=None):
    op = op or PropagateOp()
    job_buffers = {f"keyframe_{key}": style(shot[key][passes.BEAUTY]) for key in keys}
    plan = op.prepare({"cache": False, **(params or {})}, {}, frames, None, job_buffers)
    outputs = op.run(plan, (InputFrame(number, shot[number]) for number in frames), JobContext("t", frames, {}, lambda: False))
    return {output.number: output for output in outputs}


def psnr(got: np.ndarray, expected: np.ndarray, where: np.ndarray) -> float:
    """PSNR in display values over the pixels ``where`` is set."""
    error = (linear_to_display(np.clip(got[..., :3], 0, 1)) - linear_to_display(np.clip(expected, 0, 1))) ** 2
    return float(10 * np.log10(1.0 / max(error[where].mean(), 1e-12)))


@pytest.mark.blender
@pytest.mark.slow
def test_frames_between_two_keyframes_match_the_style_where_a_keyframe_saw_them(crossing_shot):
    frames = list(range(1, 13))
    results = propagate(crossing_shot, frames, [1, 12])
    assert sorted(results) == frames
    for number in frames[1:-1]:
        output = results[number]
        seen = output.buffers["confidence"][..., 2] == 0.0
        assert seen.mean() > 0.4, f"frame {number}: only {seen.mean():.2f} of the pixels were propagated"
        assert psnr(output.buffers[passes.BEAUTY], style(crossing_shot[number][passes.BEAUTY]), seen) >= 30.0
        np.testing.assert_array_equal(output.buffers[passes.BEAUTY][..., 3], crossing_shot[number][passes.BEAUTY][..., 3])


@pytest.mark.blender
@pytest.mark.slow
def test_disoccluded_pixels_take_the_look_of_their_own_object(crossing_shot):
    frames = list(range(1, 13))
    results = propagate(crossing_shot, frames, [1, 12])
    palettes = {}
    for key in (1, 12):
        objects, look = crossing_shot[key][passes.OBJECT_INDEX], style(crossing_shot[key][passes.BEAUTY])
        for object_id in np.unique(objects):
            palettes.setdefault(float(object_id), []).append(look[objects == object_id])
    ids = sorted(palettes)
    means = np.array([np.concatenate(palettes[object_id]).mean(axis=0) for object_id in ids])
    checked = right = 0
    for number in frames[1:-1]:
        filled = results[number].buffers["confidence"][..., 2] > 0.5
        colours = results[number].buffers[passes.BEAUTY][..., :3][filled]
        nearest = np.array(ids)[np.argmin(((colours[:, None, :] - means[None]) ** 2).sum(-1), axis=1)]
        checked += filled.sum()
        right += (nearest == crossing_shot[number][passes.OBJECT_INDEX][filled]).sum()
        assert psnr(results[number].buffers[passes.BEAUTY], style(crossing_shot[number][passes.BEAUTY]), filled) >= 25.0
    assert checked > 500, "the shot should disocclude something no keyframe saw"
    assert right / checked >= 0.95


@pytest.mark.blender
@pytest.mark.slow
def test_confidence_is_one_on_keyframes_and_zero_where_synthesised(crossing_shot):
    frames = list(range(1, 13))
    results = propagate(crossing_shot, frames, [1, 12])
    for key in (1, 12):
        confidence = results[key].buffers["confidence"]
        assert (confidence[..., 0] == 1).all() and (confidence[..., 1] == 0).all() and (confidence[..., 2] == 0).all()
    confidence = results[6].buffers["confidence"]
    unseen = confidence[..., 2] == 1.0
    assert unseen.any()
    assert (confidence[..., 0][unseen] == 0).all() and (confidence[..., 1][unseen] == -1).all()
    seen = confidence[..., 2] == 0.0
    assert (confidence[..., 1][seen] >= 1).all() and (confidence[..., 0][seen] < 1).all()


@pytest.mark.blender
@pytest.mark.slow
def test_one_keyframe_carried_over_24_frames_keeps_its_quality(crossing_shot):
    frames = list(range(1, SHOT_FRAMES + 1))
    results = propagate(crossing_shot, frames, [1])
    quality = {}
    for number in (2, SHOT_FRAMES):
        seen = results[number].buffers["confidence"][..., 2] == 0.0
        assert seen.mean() > 0.2
        quality[number] = psnr(results[number].buffers[passes.BEAUTY], style(crossing_shot[number][passes.BEAUTY]), seen)
    assert quality[SHOT_FRAMES] >= quality[2] - 2.0, quality


@pytest.mark.blender
@pytest.mark.slow
def test_editing_one_keyframe_recomputes_exactly_the_frames_it_reaches(crossing_shot, tmp_path):
    frames = list(range(1, 13))
    op = PropagateOp(cache_dir=tmp_path)
    shot = {number: crossing_shot[number] for number in frames}

    def run(keyframes):
        plan = op.prepare({}, {}, frames, None, keyframes)
        outputs = op.run(plan, (InputFrame(number, shot[number]) for number in frames), JobContext("t", frames, {}, lambda: False))
        return {output.number: output.meta["cache"] for output in outputs}

    keyframes = {f"keyframe_{key}": style(shot[key][passes.BEAUTY]) for key in (1, 6, 12)}
    first = run(keyframes)
    assert [first[n] for n in frames] == ["keyframe"] + ["miss"] * 4 + ["keyframe"] + ["miss"] * 5 + ["keyframe"]
    again = run(keyframes)
    assert {again[n] for n in frames if n not in (1, 6, 12)} == {"hit"}
    edited = dict(keyframes, keyframe_12=keyframes["keyframe_12"] * 0.5)
    after_edit = run(edited)
    assert [n for n in frames if after_edit[n] == "miss"] == [7, 8, 9, 10, 11]


def flat_shot(frames, size=(24, 32), with_motion=True):
    rng = np.random.default_rng(4)
    shot = {}
    for number in frames:
        buffers = {passes.BEAUTY: rng.random(size + (4,), dtype=np.float32)}
        if with_motion:
            buffers[passes.MOTION_BACKWARD] = np.zeros(size + (2,), np.float32)
            buffers[passes.MOTION_FORWARD] = np.zeros(size + (2,), np.float32)
        shot[number] = buffers
    return shot


def test_keyframes_sent_with_their_frames_through_a_real_server_match_job_level_ones(server):
    frames = [1, 2, 3, 4]
    shot = flat_shot(frames)
    look = {number: np.ascontiguousarray(style(shot[number][passes.BEAUTY])) for number in (1, 4)}
    source = {number: dict(shot[number], **({"keyframe": look[number]} if number in look else {})) for number in frames}
    with server.client() as client:
        per_frame = client.submit("propagate", frames, source, params={"keyframes": [1, 4], "cache": False}).wait(timeout=60)
        job_level = client.submit("propagate", frames, shot, params={"cache": False},
                                  job_buffers={f"keyframe_{n}": look[n] for n in look}).wait(timeout=60)
    assert per_frame.state == job_level.state == "completed"
    for number in frames:
        np.testing.assert_array_equal(per_frame.results[number][passes.BEAUTY], job_level.results[number][passes.BEAUTY])
    np.testing.assert_array_equal(per_frame.results[4][passes.BEAUTY][..., :3], look[4])


@pytest.mark.parametrize("params, job_buffers, error, words", [
    ({}, {"keyframe_9": np.zeros((24, 32, 3), np.float32)}, InvalidParams, "outside"),
    ({}, {}, InvalidParams, "at least one keyframe"),
    ({"keyframes": [1]}, {"keyframe_1": np.zeros((24, 32, 3), np.float32)}, InvalidParams, "both"),
    ({}, {"portrait": np.zeros((24, 32, 3), np.float32)}, InvalidParams, "keyframe_<frame>"),
    ({}, {"keyframe_1": np.zeros((24, 32), np.float32)}, ShapeMismatch, "RGB"),
])
def test_bad_keyframes_are_refused_before_any_frame(server, params, job_buffers, error, words):
    with server.client() as client, pytest.raises(error, match=words):
        client.submit("propagate", [1, 2], flat_shot([1, 2]), params=params, job_buffers=job_buffers)
    with server.client() as client:
        assert client.ping()


def test_a_keyframe_of_another_size_fails_the_job_by_name(server):
    with server.client() as client:
        outcome = client.submit("propagate", [1, 2], flat_shot([1, 2]),
                                job_buffers={"keyframe_1": np.zeros((10, 10, 3), np.float32)}).wait(timeout=30)
    assert outcome.state == "failed"
    assert isinstance(outcome.error, ShapeMismatch) and "keyframe_1" in str(outcome.error)
    assert sorted(outcome.failed) == [1, 2]


def test_frames_without_motion_vectors_fail_by_name_when_optical_flow_is_off():
    frames = [1, 2, 3]
    shot = flat_shot(frames, with_motion=False)
    op = PropagateOp()
    plan = op.prepare({"optical_flow": False, "cache": False}, {}, frames, None,
                      {"keyframe_1": style(shot[1][passes.BEAUTY])})
    outputs = list(op.run(plan, (InputFrame(n, shot[n]) for n in frames), JobContext("t", frames, {}, lambda: False)))
    failures = {item.number: item.error for item in outputs if isinstance(item, FrameFailure)}
    assert sorted(failures) == [2] and isinstance(failures[2], MissingInput) and "optical_flow" in str(failures[2])
    assert sorted(item.number for item in outputs) == frames


def test_frames_without_motion_vectors_follow_optical_flow():
    frames = [1, 2, 3]
    shot = flat_shot(frames, with_motion=False)
    results = propagate(shot, frames, [1, 3])
    assert sorted(results) == frames and all(not isinstance(item, FrameFailure) for item in results.values())


@pytest.mark.blender
@pytest.mark.slow
def test_the_run_command_propagates_painted_pngs_and_reruns_from_the_cache(crossing_render, crossing_shot, tmp_path):
    import cv2

    paint = tmp_path / "paint"
    paint.mkdir()
    for key in (1, 12):
        display = linear_to_display(style(crossing_shot[key][passes.BEAUTY]))
        cv2.imwrite(str(paint / f"frame_{key:04d}.png"), np.round(display[..., ::-1] * 255).astype(np.uint8))
    command = [sys.executable, "-m", "framebridge.server", "run", "propagate", "--input", str(crossing_render / "frame_####.exr"),
               "--keyframes", str(paint / "frame_####.png"), "--output", str(tmp_path / "out" / "frame_####.exr"),
               "--frames", "1-12"]
    environment = {**os.environ, "FRAMEBRIDGE_CACHE_DIR": str(tmp_path / "cache")}
    first = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert first.returncode == 0, first.stderr
    results = {number: read_layers(tmp_path / "out" / f"frame_{number:04d}.exr") for number in range(1, 13)}
    assert all("confidence" in layers for layers in results.values())
    seen = results[6]["confidence"][..., 2] == 0
    assert psnr(results[6][""], style(crossing_shot[6][passes.BEAUTY]), seen) >= 28.0
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert again.returncode == 0, again.stderr
    np.testing.assert_array_equal(read_layers(tmp_path / "out" / "frame_0006.exr")[""], results[6][""])


def restyle_keyframed(op, shot, frames, params):
    plan = op.prepare(dict(params), {}, frames, "cpu")
    outputs = op.run(plan, (InputFrame(number, shot[number]) for number in frames), JobContext("t", frames, {}, lambda: False))
    return {output.number: output for output in outputs}


def sliding_shot(frames, size=(32, 48), shift=2):
    """A smooth texture sliding right, with the motion a renderer would give."""
    import cv2

    rng = np.random.default_rng(7)
    wide = cv2.resize(rng.random((size[0] // 4, (size[1] + shift * len(frames)) // 4, 3), dtype=np.float32),
                      (size[1] + shift * len(frames), size[0]), interpolation=cv2.INTER_CUBIC)
    shot = {}
    for index, number in enumerate(frames):
        start = shift * (len(frames) - 1 - index)
        motion = np.zeros(size + (2,), np.float32)
        shot[number] = {passes.BEAUTY: display_to_linear(np.clip(wide[:, start:start + size[1]], 0.05, 0.95)),
                        passes.MOTION_BACKWARD: motion - [shift, 0], passes.MOTION_FORWARD: motion + [shift, 0]}
    return shot


def test_restyle_keyframe_mode_runs_the_backend_on_keyframes_only_and_propagates_the_rest(tmp_path, monkeypatch):
    from framebridge.server.ops.restyle import RestyleOp
    from framebridge.server.restyle.cpu import CpuBackend

    styled = []
    original = CpuBackend.run_layers
    monkeypatch.setattr(CpuBackend, "run_layers", lambda self, requests: styled.extend(r.number for r in requests) or original(self, requests))
    frames = list(range(1, 11))
    shot = sliding_shot(frames)
    results = restyle_keyframed(RestyleOp(cache_dir=tmp_path), shot, frames, {"keyframe_interval": 4, "cache": False})
    assert sorted(styled) == [1, 5, 9, 10]
    assert sorted(results) == frames and all("confidence" in results[n].buffers for n in frames)
    plain = restyle_keyframed(RestyleOp(cache_dir=tmp_path), shot, [5], {"cache": False, "temporal": False})
    np.testing.assert_array_equal(results[5].buffers[passes.BEAUTY][..., :3], plain[5].buffers[passes.BEAUTY][..., :3])


def test_restyle_keyframe_mode_recomputes_what_an_edited_keyframe_reaches(tmp_path):
    from framebridge.server.ops.restyle import RestyleOp

    frames = list(range(1, 10))
    shot = sliding_shot(frames)
    op = RestyleOp(cache_dir=tmp_path)
    params = {"keyframe_interval": [1, 5, 9]}
    first = restyle_keyframed(op, shot, frames, params)
    assert {first[n].meta["cache"] for n in frames if n not in (1, 5, 9)} == {"miss"}
    again = restyle_keyframed(op, shot, frames, params)
    assert {again[n].meta["cache"] for n in frames if n not in (1, 5, 9)} == {"hit"}
    shot[9][passes.BEAUTY] = shot[9][passes.BEAUTY] * 0.8
    edited = restyle_keyframed(op, shot, frames, params)
    assert [n for n in frames if edited[n].meta["cache"] == "miss"] == [6, 7, 8]


def test_restyle_refuses_keyframes_outside_its_frames(tmp_path):
    from framebridge.server.ops.restyle import RestyleOp

    with pytest.raises(InvalidParams, match="outside"):
        RestyleOp(cache_dir=tmp_path).prepare({"keyframe_interval": [1, 50]}, {}, [1, 2, 3], "cpu")
    with pytest.raises(InvalidParams, match="keyframe_interval"):
        RestyleOp(cache_dir=tmp_path).prepare({"keyframe_interval": 0}, {}, [1, 2, 3], "cpu")


@pytest.mark.parametrize("with_alpha", [False, True])
def test_each_frame_keeps_its_own_result_while_later_frames_are_made(with_alpha):
    frames = list(range(1, 7))
    shot = sliding_shot(frames)
    if with_alpha:
        for buffers in shot.values():
            buffers[passes.BEAUTY] = np.dstack([buffers[passes.BEAUTY], np.full(buffers[passes.BEAUTY].shape[:2], 0.5, np.float32)])
    op = PropagateOp()
    plan = op.prepare({"cache": False}, {}, frames, None, {"keyframe_1": style(shot[1][passes.BEAUTY]), "keyframe_3": style(shot[3][passes.BEAUTY])})
    as_made, outputs = {}, []
    for output in op.run(plan, (InputFrame(n, shot[n]) for n in frames), JobContext("t", frames, {}, lambda: False)):
        as_made[output.number] = {name: array.copy() for name, array in output.buffers.items()}
        outputs.append(output)
    assert [output.number for output in outputs] == frames
    for output in outputs:
        for name, array in output.buffers.items():
            np.testing.assert_array_equal(array, as_made[output.number][name], err_msg=f"frame {output.number} {name}")
    assert not np.array_equal(as_made[4][passes.BEAUTY], as_made[5][passes.BEAUTY])


@pytest.mark.blender
@pytest.mark.slow
def test_one_thread_and_several_give_the_same_bytes(crossing_shot):
    # Keyframes 1 and 10: a span finished on the pool, then frames after the last keyframe streamed.
    frames = list(range(1, 15))
    one = propagate(crossing_shot, frames, [1, 10], op=PropagateOp(threads=1))
    several = propagate(crossing_shot, frames, [1, 10], op=PropagateOp(threads=3))
    assert list(one) == list(several) == frames
    for number in frames:
        for name in (passes.BEAUTY, "confidence"):
            assert one[number].buffers[name].tobytes() == several[number].buffers[name].tobytes(), f"frame {number} {name}"


def test_the_thread_count_comes_from_the_server_setting_or_the_cores(monkeypatch):
    from framebridge.server.ops.propagate import THREADS_ENV, default_threads

    keyframe = {"keyframe_1": np.zeros((4, 4, 3), np.float32)}
    monkeypatch.setenv(THREADS_ENV, "3")
    assert PropagateOp().prepare({"cache": False}, {}, [1, 2], None, keyframe).threads == 3
    assert PropagateOp(threads=2).prepare({"cache": False}, {}, [1, 2], None, keyframe).threads == 2
    monkeypatch.delenv(THREADS_ENV)
    assert default_threads() == len(os.sched_getaffinity(0))
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(THREADS_ENV, bad)
        with pytest.raises(InvalidParams, match=THREADS_ENV):
            PropagateOp().prepare({"cache": False}, {}, [1, 2], None, keyframe)


def test_serve_takes_a_propagate_thread_count_of_at_least_one(capsys):
    from framebridge.server.cli import build_parser

    assert build_parser().parse_args(["serve", "--propagate-threads", "4"]).propagate_threads == 4
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--propagate-threads", "0"])
    assert "at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("threads", [1, 3])
def test_results_come_in_order_without_reading_far_ahead(threads):
    frames = list(range(1, 21))
    shot = sliding_shot(frames)
    shot[16].pop(passes.BEAUTY)  # a failed frame between streamed ones keeps its place
    op = PropagateOp(threads=threads)
    plan = op.prepare({"cache": False}, {}, frames, None, {"keyframe_1": style(shot[1][passes.BEAUTY]),
                                                            "keyframe_8": style(shot[8][passes.BEAUTY])})
    read = []

    def frames_read():
        for number in frames:
            read.append(number)
            yield InputFrame(number, shot[number])

    returned = []
    for output in op.run(plan, frames_read(), JobContext("t", frames, {}, lambda: False)):
        returned.append(output.number)
        needed = max(output.number, 8)  # frames before keyframe 8 wait for it
        assert len(read) <= needed + 2 * threads + 1, f"{len(read)} frames read when frame {output.number} came back"
    assert returned == frames


def test_a_job_stopped_early_leaves_no_threads_behind():
    import threading

    frames = list(range(1, 13))
    shot = sliding_shot(frames)
    op = PropagateOp(threads=3)
    plan = op.prepare({"cache": False}, {}, frames, None, {"keyframe_1": style(shot[1][passes.BEAUTY])})
    outputs = op.run(plan, (InputFrame(n, shot[n]) for n in frames), JobContext("t", frames, {}, lambda: False))
    assert next(outputs).number == 1
    assert any(thread.name.startswith("propagate") for thread in threading.enumerate())
    outputs.close()
    assert not [thread.name for thread in threading.enumerate() if thread.name.startswith("propagate")]


def _two_thread_job(shot, frames):
    """The results of a job on two threads over ``frames``, keyframed (in ``style``) on the first and the last."""
    op = PropagateOp(threads=2)
    plan = op.prepare({"cache": False}, {}, frames, None, {f"keyframe_{n}": style(shot[n][passes.BEAUTY])
                                                            for n in (frames[0], frames[-1])})
    return op.run(plan, (InputFrame(n, shot[n]) for n in frames), JobContext("t", frames, {}, lambda: False))


def test_the_pool_finishes_frames_the_backward_chain_has_reached_while_it_traces_the_rest(monkeypatch):
    import threading

    from framebridge.server.ops import propagate as module

    frames = list(range(1, 9))
    shot = sliding_shot(frames)
    late_frame_finished, waited = threading.Event(), []
    finish, step = module._Propagation._finish, module.step_chain

    def finishing(self, frame, *args):
        output = finish(self, frame, *args)
        if frame.number == 7:
            late_frame_finished.set()
        return output

    def stepping(chain, number, *args, **kwargs):
        if chain.key == 8 and number == 2:  # the backward chain's last step waits for frame 7 to be finished
            waited.append(late_frame_finished.wait(timeout=20))
        return step(chain, number, *args, **kwargs)

    monkeypatch.setattr(module._Propagation, "_finish", finishing)
    monkeypatch.setattr(module, "step_chain", stepping)
    outputs = list(_two_thread_job(shot, frames))
    assert [output.number for output in outputs] == frames
    assert waited == [True]


def test_no_pool_thread_waits_for_the_forward_step_before_its_own(monkeypatch):
    """The forward chain's steps run one after the other in one pool task, so the other thread traces the backward chain
    meanwhile (a step per task would take both threads: one tracing, one waiting for it)."""
    import threading

    from framebridge.server.ops import propagate as module

    frames = list(range(1, 9))
    shot = sliding_shot(frames)
    backward_started, waited = threading.Event(), []
    step = module.step_chain

    def stepping(chain, number, *args, **kwargs):
        if chain.key == 8:
            backward_started.set()
        elif number == 3:  # the forward chain waits until the backward one has begun
            waited.append(backward_started.wait(timeout=10))
        return step(chain, number, *args, **kwargs)

    monkeypatch.setattr(module, "step_chain", stepping)
    outputs = list(_two_thread_job(shot, frames))
    assert [output.number for output in outputs] == frames
    assert waited == [True]


@pytest.mark.parametrize("key, failing", [(8, 4), (1, 3)], ids=["backward", "forward"])
def test_a_failing_chain_step_fails_the_job_without_leaving_frames_waiting(monkeypatch, key, failing):
    import threading

    from framebridge.server.ops import propagate as module

    frames = list(range(1, 9))
    shot = sliding_shot(frames)
    step = module.step_chain

    def stepping(chain, number, *args, **kwargs):
        if chain.key == key and number == failing:
            raise RuntimeError("step failed")
        return step(chain, number, *args, **kwargs)

    monkeypatch.setattr(module, "step_chain", stepping)
    raised = []

    def run():
        try:
            list(_two_thread_job(shot, frames))
        except RuntimeError as error:
            raised.append(str(error))

    job = threading.Thread(target=run)
    job.start()
    job.join(timeout=30)
    assert not job.is_alive(), "frames waited for chain steps that never came"
    assert raised == ["step failed"]
    assert not [thread.name for thread in threading.enumerate() if thread.name.startswith("propagate")]
