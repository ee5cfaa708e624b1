"""The restyle op: CPU default, temporal consistency, reproducibility, the cache rule, typed errors."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, ClassVar

import numpy as np
import pytest

from framebridge.protocol import passes
from framebridge.protocol.errors import InvalidParams, MissingInput, ModelNotFound, NonFiniteValues
from framebridge.server.colour import display_to_linear, linear_to_display
from framebridge.server.ops.base import FrameFailure, InputFrame, JobContext, OutputFrame
from framebridge.server.ops.restyle import RestyleOp
from framebridge.server.restyle.backend import RestyleBackend, StyleRequest
from framebridge.server.restyle.cpu import CpuBackend
from framebridge.server.restyle.schedule import Keyframed, frame_seed

SIZE = (48, 64)


def texture(seed: int = 0, size=SIZE) -> np.ndarray:
    """A smooth random colour texture in display values, so optical flow and stylisation have something to see."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.random((size[0] // 4, size[1] // 4, 3), dtype=np.float32)
    return np.clip(cv2.resize(noise, (size[1], size[0]), interpolation=cv2.INTER_CUBIC), 0.05, 0.95)


def shot(frames=(1, 2, 3), shift=3, with_motion=True, alpha=1.0) -> dict[int, dict[str, np.ndarray]]:
    """A texture sliding right by ``shift`` pixels a frame, with the motion a renderer would give."""
    base = texture(1, (SIZE[0], SIZE[1] + shift * len(frames)))
    result = {}
    for index, number in enumerate(frames):
        start = shift * (len(frames) - 1 - index)
        display = base[:, start:start + SIZE[1]]
        beauty = np.concatenate([display_to_linear(display) * alpha, np.full((*SIZE, 1), alpha, np.float32)], axis=2)
        buffers = {passes.BEAUTY: beauty}
        if with_motion:
            buffers[passes.MOTION_BACKWARD] = np.tile(np.array([-shift, 0], np.float32), (*SIZE, 1))
            buffers[passes.MOTION_FORWARD] = np.tile(np.array([shift, 0], np.float32), (*SIZE, 1))
        result[number] = buffers
    return result


def run(op: RestyleOp, frames: dict[int, dict], params: dict[str, Any], backend: str = "cpu") -> dict[int, OutputFrame | FrameFailure]:
    numbers = sorted(frames)
    plan = op.prepare(dict(params), {}, numbers, backend)
    context = JobContext(job_id="test", frames=numbers, shot={}, cancelled=lambda: False)
    return {item.number: item for item in op.run(plan, (InputFrame(n, frames[n]) for n in numbers), context)}


class Recording(RestyleBackend):
    """A test backend: returns a fixed image per frame and records what it was asked."""

    name: ClassVar[str] = "recording"
    outputs: dict[int, np.ndarray] = {}

    def __init__(self):
        self.requests: list[StyleRequest] = []

    @property
    def version(self) -> str:
        return "recording-1"

    def describe(self) -> dict[str, Any]:
        return {"params": {}, "ignores": ["conditions"]}

    def load(self) -> None:
        pass

    def run(self, window: list[StyleRequest]) -> list[np.ndarray]:
        self.requests.extend(window)
        return [self.outputs.get(request.number, request.image) for request in window]


@pytest.fixture
def op(tmp_path):
    return RestyleOp(cache_dir=tmp_path / "cache")


def test_cpu_default_restyles_at_the_plate_size_keeping_alpha(op):
    frames = shot(alpha=0.5)
    results = run(op, frames, {"prompt": "cartoon", "strength": 1.0, "cache": False})
    for number, result in results.items():
        beauty = result.buffers[passes.BEAUTY]
        assert beauty.shape == (*SIZE, 4) and beauty.dtype == np.float32
        np.testing.assert_array_equal(beauty[..., 3], frames[number][passes.BEAUTY][..., 3])
        change = np.abs(linear_to_display(beauty[..., :3] / 0.5) - linear_to_display(frames[number][passes.BEAUTY][..., :3] / 0.5))
        assert change.mean() > 0.02, "the look must visibly change the frame"


def test_strength_zero_returns_the_input():
    request = StyleRequest(number=1, image=texture(), conditions={}, prompt="paint", negative_prompt="", strength=0.0,
                           seed=1, guidance_scale=7.0, steps=20)
    np.testing.assert_allclose(CpuBackend().run([request])[0], texture(), atol=1e-6)


def test_the_warped_previous_result_enters_the_next_frames_start(tmp_path):
    Recording.outputs = {1: np.full((*SIZE, 3), 0.2, np.float32)}
    Recording.outputs[1][:, ::8] = 0.9  # vertical stripes the warp must move
    op = RestyleOp(backends={"recording": Recording}, cache_dir=tmp_path)
    frames = shot(shift=3)
    run(op, frames, {"temporal_strength": 1.0, "cache": False}, backend="recording")
    start = op._backends["recording"].requests[1].image
    # The content moved 3 pixels right; the chain carries results as half floats.
    expected = np.roll(Recording.outputs[1].astype(np.float16).astype(np.float32), 3, axis=1)
    interior = np.s_[6:-6, 12:-6]
    np.testing.assert_allclose(start[interior], expected[interior], atol=1e-5)
    first_input = linear_to_display(frames[2][passes.BEAUTY][..., :3])
    assert np.abs(start[interior] - first_input[interior]).mean() > 0.1, "the start is not just the input"


def test_without_temporal_the_start_is_the_frame_itself(tmp_path):
    Recording.outputs = {1: np.zeros((*SIZE, 3), np.float32)}
    op = RestyleOp(backends={"recording": Recording}, cache_dir=tmp_path)
    frames = shot()
    run(op, frames, {"temporal": False, "cache": False}, backend="recording")
    for request in op._backends["recording"].requests:
        np.testing.assert_allclose(request.image, linear_to_display(frames[request.number][passes.BEAUTY][..., :3]), atol=1e-6)


def test_filter_backends_start_from_the_frame_and_blend_their_output(tmp_path):
    """A backend that fuses its output restyles the frame itself; the warped previous result is blended after."""

    class Fusing(Recording):
        fuses_output: ClassVar[bool] = True

    # The second output alternates 0.2 and 0.8 pixel by pixel, so 0.25 is within its local range.
    checker = np.where((np.indices(SIZE).sum(axis=0) % 2 == 0)[..., None], 0.2, 0.8).astype(np.float32)
    Fusing.outputs = {1: np.full((*SIZE, 3), 0.25, np.float32), 2: np.repeat(checker, 3, axis=2)}
    op = RestyleOp(backends={"recording": Fusing}, cache_dir=tmp_path)
    frames = shot(shift=0)
    results = run(op, frames, {"temporal_strength": 1.0, "cache": False}, backend="recording")
    second = op._backends["recording"].requests[1]
    np.testing.assert_allclose(second.image, linear_to_display(frames[2][passes.BEAUTY][..., :3]), atol=1e-6)
    interior = linear_to_display(results[2].buffers[passes.BEAUTY][8:-8, 8:-8, :3])
    np.testing.assert_allclose(interior, 0.25, atol=1e-3)


def test_a_line_the_current_output_has_nowhere_near_leaves_no_ghost(tmp_path):
    """The previous result's ink line, warped to where the current output is flat, is clamped away, not blended in."""

    class Fusing(Recording):
        fuses_output: ClassVar[bool] = True

    inked = np.full((*SIZE, 3), 0.8, np.float32)
    inked[:, 30:32] = 0.05
    Fusing.outputs = {1: inked, 2: np.full((*SIZE, 3), 0.8, np.float32)}
    op = RestyleOp(backends={"recording": Fusing}, cache_dir=tmp_path)
    results = run(op, shot(shift=0), {"temporal_strength": 1.0, "cache": False}, backend="recording")
    second = linear_to_display(results[2].buffers[passes.BEAUTY][8:-8, 8:-8, :3])
    np.testing.assert_allclose(second, 0.8, atol=1e-3)


def test_occluded_pixels_are_not_blended(tmp_path):
    """Where motion is inconsistent both ways the previous result must not leak in."""
    Recording.outputs = {1: np.ones((*SIZE, 3), np.float32)}
    op = RestyleOp(backends={"recording": Recording}, cache_dir=tmp_path)
    frames = shot(shift=0)
    frames[1][passes.MOTION_FORWARD] = frames[1][passes.MOTION_FORWARD].copy()
    frames[1][passes.MOTION_FORWARD][:, :32] = (20.0, 0.0)  # the left half claims to move away
    run(op, frames, {"temporal_strength": 1.0, "cache": False}, backend="recording")
    start = op._backends["recording"].requests[1].image
    current = linear_to_display(frames[2][passes.BEAUTY][..., :3])
    np.testing.assert_allclose(start[:, :20], current[:, :20], atol=1e-6)
    np.testing.assert_allclose(start[8:-8, 44:-8], 1.0, atol=1e-5)


def test_frames_without_motion_vectors_use_optical_flow(op):
    results = run(op, shot(with_motion=False), {"cache": False})
    assert results[2].meta["motion"] == "optical_flow" and results[2].meta["coverage"] > 0.5
    assert run(op, shot(), {"cache": False})[2].meta["motion"] == "render"


def test_same_inputs_and_seed_give_identical_bytes(op):
    params = {"prompt": "pencil sketch", "seed": 42, "cache": False}
    first, second = run(op, shot(), params), run(RestyleOp(cache_dir=None), shot(), params)
    for number in first:
        assert first[number].buffers[passes.BEAUTY].tobytes() == second[number].buffers[passes.BEAUTY].tobytes()
    other_seed = run(op, shot(), {**params, "seed": 43})
    assert other_seed[2].buffers[passes.BEAUTY].tobytes() != first[2].buffers[passes.BEAUTY].tobytes()


def test_resubmitting_an_unchanged_shot_is_served_from_the_cache(op):
    first = run(op, shot(), {"prompt": "toon"})
    again = run(op, shot(), {"prompt": "toon"})
    assert [r.meta["cache"] for r in first.values()] == ["miss"] * 3
    assert [r.meta["cache"] for r in again.values()] == ["hit"] * 3
    for number in first:
        assert first[number].buffers[passes.BEAUTY].tobytes() == again[number].buffers[passes.BEAUTY].tobytes()


@pytest.mark.parametrize("temporal, recomputed", [(True, [2, 3]), (False, [2])])
def test_editing_frame_two_of_three_recomputes_what_the_rule_says(op, temporal, recomputed):
    params = {"prompt": "toon", "temporal": temporal}
    run(op, shot(), params)
    edited = shot()
    edited[2][passes.BEAUTY] = edited[2][passes.BEAUTY].copy()
    edited[2][passes.BEAUTY][10:20, 10:20, :3] = 0.9
    again = run(op, edited, params)
    assert [n for n, r in again.items() if r.meta["cache"] == "miss"] == recomputed
    assert [n for n, r in again.items() if r.meta["cache"] == "hit"] == [n for n in (1, 2, 3) if n not in recomputed]


def test_a_corrupt_cache_entry_is_a_miss(op, tmp_path):
    run(op, shot(), {"prompt": "toon"})
    entries = sorted((tmp_path / "cache").rglob("*.npy"))
    assert len(entries) == 6  # the display and linear arrays of 3 frames
    entries[0].write_bytes(b"not an array")
    for entry in entries[1:]:
        entry.write_bytes(entry.read_bytes()[:-100])  # truncated
    again = run(op, shot(), {"prompt": "toon"})
    assert [r.meta["cache"] for r in again.values()] == ["miss"] * 3


def test_keyframes_interpolate_numbers_and_hold_text():
    strength = Keyframed.parse("strength", {"1": 0.2, "5": 0.6}, (int, float), [1, 2, 3, 4, 5], interpolate=True, low=0, high=1)
    assert [round(strength.at(n), 3) for n in (1, 2, 3, 5)] == [0.2, 0.3, 0.4, 0.6]
    prompt = Keyframed.parse("prompt", {"3": "snow", "1": "rain"}, str, [1, 2, 3, 4], interpolate=False)
    assert [prompt.at(n) for n in (1, 2, 3, 4)] == ["rain", "rain", "snow", "snow"]


def test_keyframed_params_reach_the_backend_per_frame(tmp_path):
    Recording.outputs = {}
    op = RestyleOp(backends={"recording": Recording}, cache_dir=tmp_path)
    run(op, shot(), {"prompt": {"1": "day", "3": "night"}, "strength": {"1": 0.2, "3": 0.6}, "seed": 9, "cache": False},
        backend="recording")
    requests = op._backends["recording"].requests
    assert [r.prompt for r in requests] == ["day", "day", "night"]
    assert [round(r.strength, 3) for r in requests] == [0.2, 0.4, 0.6]
    assert [r.seed for r in requests] == [frame_seed(9, n) for n in (1, 2, 3)]
    assert frame_seed(9, 2) == frame_seed(9, 2) != frame_seed(9, 3)


@pytest.mark.parametrize("params, backend, message", [
    ({"strength": 1.5}, "cpu", "strength"),
    ({"strength": {"1": 0.3, "9": 0.5}}, "cpu", "outside the submitted frames"),
    ({"prompt": {"0": "before"}}, "cpu", "outside the submitted frames"),
    ({"conditions": {"x-ray": 1.0}}, "cpu", "unknown conditions"),
    ({"look": "cubist"}, "cpu", "unknown look"),
    ({"colour": "red"}, "cpu", "unknown restyle params"),
    ({"steps": 2.5}, "cpu", "steps"),
    ({"temporal": "yes"}, "cpu", "temporal"),
    ({}, "dreams", "no backend"),
])
def test_bad_params_are_refused_before_any_frame(op, params, backend, message):
    with pytest.raises(InvalidParams, match=message):
        op.prepare(params, {}, [1, 2, 3], backend)


def test_a_missing_model_directory_is_named(tmp_path, monkeypatch):
    config = tmp_path / "models.toml"
    config.write_text(f'[restyle.sd15]\nbase = "{tmp_path / "no-such-model"}"\n')
    monkeypatch.setenv("FRAMEBRIDGE_MODELS", str(config))
    with pytest.raises(ModelNotFound) as caught:
        RestyleOp(cache_dir=tmp_path).prepare({"prompt": "x"}, {}, [1], "diffusers")
    assert "no-such-model" in str(caught.value) and caught.value.fix


def test_bad_frames_fail_alone_and_the_rest_are_restyled(op):
    frames = shot(frames=(1, 2, 3, 4))
    del frames[2][passes.BEAUTY]
    frames[3][passes.BEAUTY] = frames[3][passes.BEAUTY].copy()
    frames[3][passes.BEAUTY][0, 0, 0] = np.nan
    results = run(op, frames, {"cache": False})
    assert isinstance(results[2], FrameFailure) and isinstance(results[2].error, MissingInput)
    assert isinstance(results[3], FrameFailure) and isinstance(results[3].error, NonFiniteValues)
    assert isinstance(results[1], OutputFrame) and isinstance(results[4], OutputFrame)
    assert "motion" not in results[4].meta, "a failed frame breaks the temporal chain"


def test_restyle_through_a_real_server_streams_every_frame(server):
    frames = shot(frames=(1001, 1002, 1003))
    with server.client() as client:
        outcome = client.submit("restyle", sorted(frames), frames, params={"prompt": "cartoon", "seed": 5}).wait(timeout=120)
        again = client.submit("restyle", sorted(frames), frames, params={"prompt": "cartoon", "seed": 5}).wait(timeout=120)
    assert outcome.state == "completed" and sorted(outcome.results) == [1001, 1002, 1003]
    for number in frames:
        assert outcome.results[number][passes.BEAUTY].shape == (*SIZE, 4)
        assert outcome.results[number][passes.BEAUTY].tobytes() == again.results[number][passes.BEAUTY].tobytes()


def test_premultiplied_renders_are_restyled_in_straight_colour_and_stay_clear_where_transparent(op):
    beauty = np.zeros((*SIZE, 4), np.float32)
    beauty[12:36, 16:48] = (0.6, 0.3, 0.1, 1.0)  # an opaque card on a transparent film
    beauty[12:36, 12:16] = (0.3, 0.15, 0.05, 0.5)  # its half-transparent edge, premultiplied
    result = run(op, {1: {passes.BEAUTY: beauty}}, {"prompt": "sketch", "palette": "sepia", "cache": False})[1]
    restyled = result.buffers[passes.BEAUTY]
    transparent = beauty[..., 3] == 0
    assert np.all(restyled[transparent][:, :3] == 0), "nothing may tint what is transparent"
    assert np.all(restyled[..., :3] <= restyled[..., 3:4] + 1e-6), "the result stays premultiplied"
    np.testing.assert_array_equal(restyled[..., 3], beauty[..., 3])


def test_highlights_beyond_the_display_range_come_back_at_strength_zero(op):
    beauty = np.full((*SIZE, 3), 4.0, np.float32)
    beauty[:, :10] = 0.25
    result = run(op, {1: {passes.BEAUTY: beauty}}, {"strength": 0.0, "temporal": False, "cache": False})[1]
    np.testing.assert_allclose(result.buffers[passes.BEAUTY], beauty, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("params, message", [
    ({"strength": float("nan")}, "finite"),
    ({"temporal_strength": {"1": float("nan")}}, "finite"),
    ({"guidance_scale": float("inf")}, "finite"),
    ({"prompt": {"1": "a", "01": "b"}}, "two keyframes for frame 1"),
])
def test_non_finite_and_repeated_keyframes_are_refused(op, params, message):
    with pytest.raises(InvalidParams, match=message):
        op.prepare(params, {}, [1, 2, 3], "cpu")


@pytest.mark.parametrize("size", [(1, 1), (8, 40), (9, 9), (5, 300)])
def test_thin_plates_without_vectors_restyle_with_optical_flow(op, size):
    frames = {n: {passes.BEAUTY: np.full((*size, 3), 0.1 * n, np.float32)} for n in (1, 2, 3)}
    results = run(op, frames, {"cache": False})
    assert all(isinstance(r, OutputFrame) and r.buffers[passes.BEAUTY].shape == (*size, 3) for r in results.values())


def test_badly_shaped_passes_fail_their_frame_only(op):
    from framebridge.protocol.errors import ShapeMismatch

    frames = shot()
    frames[2][passes.MOTION_BACKWARD] = np.zeros(SIZE, np.float32)
    frames[3][passes.DEPTH] = np.ones((10, 10), np.float32)
    results = run(op, frames, {"cache": False})
    assert isinstance(results[1], OutputFrame)
    assert isinstance(results[2].error, ShapeMismatch) and isinstance(results[3].error, ShapeMismatch)


def test_a_plate_that_changes_size_starts_a_new_chain(op):
    frames = shot(frames=(1, 2))
    frames[3] = {passes.BEAUTY: np.full((20, 30, 3), 0.3, np.float32)}
    results = run(op, frames, {"cache": False})
    assert isinstance(results[3], OutputFrame) and "motion" not in results[3].meta


def test_the_chain_only_links_consecutive_frames(op):
    frames = shot(frames=(1, 2, 3))
    results = run(op, {1: frames[1], 3: frames[3]}, {"cache": False})
    assert "motion" not in results[3].meta, "frame 1 is not frame 3's previous frame"


class Conditioned(Recording):
    """A recording backend that asks for ControlNet conditions."""

    def describe(self) -> dict[str, Any]:
        return {"params": {}}


def depth_shot() -> dict[int, dict[str, np.ndarray]]:
    frames = shot(frames=(1, 2, 3), with_motion=False)
    for number, buffers in frames.items():
        depth = np.full(SIZE, 10.0, np.float32)
        depth[10:20, 10:20] = 2.0 + number  # an object coming no nearer than 3
        buffers[passes.DEPTH] = depth
    return frames


def test_the_shot_is_part_of_the_key_when_conditions_come_from_passes(tmp_path):
    Conditioned.outputs = {}
    op = RestyleOp(backends={"recording": Conditioned}, cache_dir=tmp_path)
    params = {"conditions": {"depth": 1.0}}
    plan = op.prepare(dict(params), {"depth_range": [1.0, 20.0]}, [1, 2, 3], "recording")
    context = JobContext(job_id="t", frames=[1, 2, 3], shot={}, cancelled=lambda: False)
    frames = depth_shot()
    first = [r.meta["cache"] for r in op.run(plan, (InputFrame(n, frames[n]) for n in (1, 2, 3)), context)]
    plan = op.prepare(dict(params), {"depth_range": [1.0, 30.0]}, [1, 2, 3], "recording")
    second = [r.meta["cache"] for r in op.run(plan, (InputFrame(n, frames[n]) for n in (1, 2, 3)), context)]
    assert first == second == ["miss"] * 3


def test_a_measured_depth_range_does_not_depend_on_what_was_cached(tmp_path):
    Conditioned.outputs = {}
    params = {"conditions": {"depth": 1.0}, "temporal": False}
    cached = RestyleOp(backends={"recording": Conditioned}, cache_dir=tmp_path / "a")
    run(cached, depth_shot(), params, backend="recording")
    edited = depth_shot()
    edited[2][passes.BEAUTY] = edited[2][passes.BEAUTY].copy()
    edited[2][passes.BEAUTY][0, 0] = 0.9
    again = run(cached, edited, params, backend="recording")
    fresh = run(RestyleOp(backends={"recording": Conditioned}, cache_dir=tmp_path / "b"), edited, params, backend="recording")
    assert [again[n].meta["cache"] for n in (1, 2, 3)] == ["hit", "miss", "hit"]
    for number in (1, 2, 3):
        assert again[number].buffers[passes.BEAUTY].tobytes() == fresh[number].buffers[passes.BEAUTY].tobytes()
    depth_seen = [r.conditions["depth"] for r in cached._backends["recording"].requests]
    assert depth_seen[0].max() == 1.0 and depth_seen[-1].max() < 1.0, "one range for the job, not one per frame"


def test_capabilities_of_a_server_without_torch_list_the_diffusers_backend_as_unavailable(tmp_path):
    code = f"""
import json, sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "diffusers", "transformers"):
            raise ImportError(f"No module named {{name!r}}")
        return None

sys.meta_path.insert(0, Missing())
from framebridge.protocol.connection import ConnectionInfo
from framebridge.server.server import Server

server = Server(ConnectionInfo("tcp://127.0.0.1:*", b"k" * 32), spool_dir=__import__("pathlib").Path({str(tmp_path)!r}))
try:
    backends = server.capabilities().ops["restyle"]["backends"]
finally:
    server._shutdown()
print(json.dumps({{"diffusers": backends["diffusers"], "cpu": backends["cpu"].get("available", True),
                  "imported": sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["imported"] == [] and report["cpu"] is True
    assert report["diffusers"]["available"] is False and "torch" in report["diffusers"]["error"]
    assert report["diffusers"]["install"] == "pip install 'framebridge[models]'"


def cpu_request(image: np.ndarray, look: str, passes_: dict | None = None) -> StyleRequest:
    return StyleRequest(number=1, image=image, conditions={}, prompt="", negative_prompt="", strength=1.0, seed=5,
                        guidance_scale=7.0, steps=20, options={"look": look}, passes=passes_ or {})


def test_paint_at_full_strength_is_plainly_not_the_render():
    """A smooth CG frame (two flat areas and a soft ball) comes back banded, saturated and brush-textured."""
    height, width = 180, 320
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.empty((height, width, 3), np.float32)
    image[:] = (0.55, 0.5, 0.42)
    image[:, width // 2:] = (0.45, 0.42, 0.36)
    ball = np.clip(1.0 - np.hypot(xs - 90, ys - 90) / 60.0, 0.0, 1.0)[..., None]
    image = image * (1 - (ball > 0)) + (ball > 0) * (0.3 + 0.5 * ball) * np.array([0.9, 0.35, 0.3], np.float32)
    painted = CpuBackend().run([cpu_request(image.astype(np.float32), "paint")])[0]
    assert np.abs(painted - image).mean() > 0.03  # the look before brush strokes and bands changed it by 0.019
    flat = np.s_[20:60, 200:300]
    assert image[flat].std(axis=(0, 1)).max() == 0 and painted[flat].std(axis=(0, 1)).min() > 0.01, "strokes on flat paint"


def test_sketch_outlines_an_object_as_bright_as_its_background_from_the_passes():
    height, width = 96, 160
    image = np.full((height, width, 3), 0.5, np.float32)
    image[30:70, 60:110] = (0.35, 0.52, 0.6)  # different hue, (almost) the same luminance
    ids = np.zeros((height, width), np.float32)
    ids[30:70, 60:110] = 2.0
    depth = np.full((height, width), 10.0, np.float32)
    depth[30:70, 60:110] = 6.0
    border = np.s_[30, 70:100]
    plain = CpuBackend().run([cpu_request(image, "sketch")])[0]
    outlined = CpuBackend().run([cpu_request(image, "sketch", {"object_index": ids, "depth": depth})])[0]
    assert outlined[border].mean() < plain[border].mean() - 0.15, "the cube's top edge is drawn"
    np.testing.assert_allclose(outlined[45:55, 75:95], plain[45:55, 75:95], atol=1e-6)


PAN_SIZE = (72, 96)


def panned_floor(number: int, pan: float, noise: float = 0.004) -> np.ndarray:
    """A checkered floor the camera pans across by ``pan`` pixels a frame, and a soft shadow sliding over it
    faster than the floor moves (render motion knows nothing of it), with a little render noise; display values."""
    import cv2

    supersample = 4
    ys, xs = np.mgrid[0:PAN_SIZE[0] * supersample, 0:PAN_SIZE[1] * supersample].astype(np.float32) / supersample
    checker = (np.floor((xs + pan * number) / 24) + np.floor(ys / 24)) % 2
    shadow = 1 - 0.45 * np.sqrt(np.clip(1 - ((xs - 20 - 3 * number) / 14) ** 2 - ((ys - 48) / 7) ** 2, 0, 1))
    grey = cv2.resize((0.75 - 0.2 * checker) * shadow, PAN_SIZE[::-1], interpolation=cv2.INTER_AREA)
    image = grey[..., None] * np.array([1.0, 0.92, 0.8], np.float32)
    return np.clip(image + np.random.default_rng(number).normal(0, noise, image.shape), 0, 1).astype(np.float32)


def edge_energy(display: np.ndarray) -> np.ndarray:
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(display, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3))


@pytest.mark.parametrize("look", ["toon", "paint", "sketch"])
def test_a_camera_pan_leaves_no_ghost_lines_beside_the_current_ones(op, look):
    """Output edge energy where the scene has no edge within 3 pixels must not grow with temporal on.

    A fractional pan (4.5 pixels a frame) makes every warp resample; lines carried in a
    recursive history widen frame after frame into faint trails beside the current ones.
    """
    import cv2

    pan = 4.5
    frames = {number: {passes.BEAUTY: display_to_linear(panned_floor(number, pan)),
                       passes.MOTION_BACKWARD: np.tile(np.array([pan, 0], np.float32), (*PAN_SIZE, 1)),
                       passes.MOTION_FORWARD: np.tile(np.array([-pan, 0], np.float32), (*PAN_SIZE, 1))}
              for number in range(1, 13)}
    on = run(op, frames, {"look": look, "cache": False})
    off = run(op, frames, {"look": look, "cache": False, "temporal": False})
    ghost_on = ghost_off = 0.0
    for number in range(2, 13):
        scene_edges = (edge_energy(panned_floor(number, pan, noise=0.0)) > 0.02).astype(np.uint8)
        edgeless = cv2.dilate(scene_edges, np.ones((7, 7), np.uint8)) == 0
        ghost_on += edge_energy(linear_to_display(on[number].buffers[passes.BEAUTY][..., :3]))[edgeless].mean()
        ghost_off += edge_energy(linear_to_display(off[number].buffers[passes.BEAUTY][..., :3]))[edgeless].mean()
    assert ghost_on <= ghost_off, f"{look}: temporal on adds edges the scene does not have ({ghost_on / ghost_off:.3f}x off)"
    assert on[12].meta["coverage"] > 0.5, "the history was used, not rejected everywhere"


def test_history_lines_land_only_on_the_current_lines_and_colour_stays_in_its_neighbourhood():
    from framebridge.server.restyle.backend import StyleLayers
    from framebridge.server.restyle.temporal import blend_layers

    colour = np.full((8, 8, 3), 0.6, np.float32)
    current_lines = np.zeros((8, 8), np.float32)
    current_lines[:, 3] = 0.9
    current_lines[:, 2] = 0.3  # the soft side of the current line
    previous_lines = np.zeros((8, 8), np.float32)
    previous_lines[:, 5] = 0.9  # a line two pixels off, where the current frame draws none
    previous_lines[:, 3] = 0.5  # lighter where the current frame draws one
    previous_lines[:, 2] = 0.8  # darker on the current line's soft side
    previous_colour = np.full((8, 8, 3), 0.2, np.float32)
    blended = blend_layers(StyleLayers(colour, current_lines), StyleLayers(previous_colour, previous_lines),
                           np.ones((8, 8), np.float32))
    np.testing.assert_allclose(blended.lines[:, 4:], 0.0)
    np.testing.assert_allclose(blended.lines[:, 3], 0.5)
    np.testing.assert_allclose(blended.lines[:, 2], 0.8)
    np.testing.assert_allclose(blended.colour, 0.6)
