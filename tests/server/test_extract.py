"""The extract op: conditions from real Blender passes, bad requests, and estimators from local weights."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.protocol import passes
from framebridge.protocol.errors import FrameFailed, InvalidParams, MissingInput, ModelNotFound, NonFiniteValues, ShapeMismatch
from framebridge.protocol.exr import read_frame
from framebridge.server.conditions import DepthRange, depth_condition, measure_depth_range, pose_condition, segment_colours
from framebridge.server.conditions.depth import BACKGROUND_DEPTH
from framebridge.server.conditions.pose import JOINT_COLOURS
from framebridge.server.ops import default_ops
from framebridge.server.ops.base import FrameFailure, InputFrame, JobContext, OutputFrame
from framebridge.server.ops.extract import ExtractOp, _as_dtype


def run_extract(frames: dict[int, dict[str, np.ndarray]], params: dict, shot: dict | None = None, backend: str | None = None) -> dict[int, OutputFrame | FrameFailure]:
    op = ExtractOp()
    plan = op.prepare(params, shot or {}, sorted(frames), backend)
    inputs = (InputFrame(number, buffers) for number, buffers in sorted(frames.items()))
    context = JobContext("test", sorted(frames), shot or {}, lambda: False)
    return {result.number: result for result in op.run(plan, inputs, context)}


def blender_frames(render) -> dict[int, dict[str, np.ndarray]]:
    frames = {}
    for number in render.frames:
        buffers = read_frame(render.path(number))
        buffers[passes.CAMERA_MATRIX] = np.array(render.scene["frames"][str(number)]["camera_matrix"], dtype=np.float32)
        frames[number] = buffers
    return frames


def masks(render, buffers) -> dict[str, np.ndarray]:
    return {name: buffers[passes.OBJECT_INDEX] == index for name, index in render.scene["pass_index"].items()}


def test_extract_is_offered_by_the_server():
    assert "extract" in default_ops()
    outputs = {spec["name"]: spec for spec in default_ops()["extract"].describe()["outputs"]}
    assert outputs["control_depth"]["channels"] == [1]


# --- conditions from real Blender passes ----------------------------------------


@pytest.mark.blender
def test_nearer_object_is_brighter_in_the_depth_condition(blender_render):
    frames = blender_frames(blender_render)
    results = run_extract(frames, {"conditions": ["depth"]})
    for number, result in results.items():
        depth = result.buffers["control_depth"]
        assert depth.shape == frames[number][passes.DEPTH].shape and depth.dtype == np.uint8
        regions = masks(blender_render, frames[number])
        near, mover, backdrop = (float(np.median(depth[regions[name]])) for name in ("Near", "Mover", "Backdrop"))
        assert near > mover > backdrop
        assert result.meta["depth_range_source"] == "first_frame"


@pytest.mark.blender
def test_depth_range_measured_on_the_first_frame_holds_for_the_whole_shot(blender_render):
    results = run_extract(blender_frames(blender_render), {"conditions": ["depth"], "output_dtype": "float32"})
    ranges = {tuple(result.meta["depth_range"]) for result in results.values()}
    assert len(ranges) == 1
    near, far = ranges.pop()
    assert near == pytest.approx(4.25, abs=0.01) and far == pytest.approx(10.0, abs=1e-3)
    # The static sphere keeps exactly the same brightness while the mover moves.
    spheres = [result.buffers["control_depth"][masks(blender_render, frame)["Near"]] for result, frame in zip(results.values(), blender_frames(blender_render).values())]
    assert all(np.array_equal(spheres[0], sphere) for sphere in spheres[1:])


@pytest.mark.blender
def test_shot_depth_range_takes_precedence_and_params_over_shot(blender_render):
    frames = {1: blender_frames(blender_render)[1]}
    from_shot = run_extract(frames, {"conditions": ["depth"]}, shot={"depth_range": [2.0, 20.0]})[1]
    assert from_shot.meta == {"depth_range": [2.0, 20.0], "depth_range_source": "shot"}
    from_params = run_extract(frames, {"conditions": ["depth"], "depth_range": [4.0, 12.0]}, shot={"depth_range": [2.0, 20.0]})[1]
    assert from_params.meta["depth_range_source"] == "params"
    backdrop = masks(blender_render, frames[1])["Backdrop"]
    # Depth 10 with near 4, far 12: (1/10 - 1/12) / (1/4 - 1/12) = 0.1 -> 26 of 255.
    assert abs(int(np.median(from_params.buffers["control_depth"][backdrop])) - 26) <= 1


@pytest.mark.blender
def test_plane_facing_the_camera_gets_the_facing_normal_colour(blender_render):
    frames = blender_frames(blender_render)
    results = run_extract(frames, {"conditions": ["normal"]})
    for number, result in results.items():
        normal = result.buffers["control_normal"].astype(int)
        regions = masks(blender_render, frames[number])
        backdrop = normal[regions["Backdrop"]]
        assert np.abs(np.median(backdrop, axis=0) - [128, 128, 255]).max() <= 1


@pytest.mark.blender
def test_normal_colours_follow_the_normalbae_axes_on_the_sphere(blender_render):
    """Red grows for surfaces facing left, green for surfaces facing up (ScanNet / normalbae)."""
    frame = blender_frames(blender_render)[1]
    normal = run_extract({1: frame}, {"conditions": ["normal"], "output_dtype": "float32"})[1].buffers["control_normal"]
    sphere = masks(blender_render, frame)["Near"]
    rows, columns = np.nonzero(sphere)
    centre_row, centre_column = rows.mean(), columns.mean()
    left = sphere & (np.arange(sphere.shape[1])[None, :] < centre_column - 4)
    right = sphere & (np.arange(sphere.shape[1])[None, :] > centre_column + 4)
    top = sphere & (np.arange(sphere.shape[0])[:, None] < centre_row - 4)
    bottom = sphere & (np.arange(sphere.shape[0])[:, None] > centre_row + 4)
    assert np.median(normal[left][:, 0]) > 0.6  # facing left: much red
    assert np.median(normal[right][:, 0]) < 0.4  # facing right: little red
    assert np.median(normal[top][:, 1]) > 0.6  # facing up: much green
    assert np.median(normal[bottom][:, 1]) < 0.4
    assert np.median(normal[sphere][:, 2]) > 0.8  # mostly facing the camera: much blue


@pytest.mark.blender
def test_world_normals_need_a_camera(blender_render):
    frame = blender_frames(blender_render)[1]
    del frame[passes.CAMERA_MATRIX]
    failure = run_extract({1: frame}, {"conditions": ["normal"]})[1]
    assert isinstance(failure, FrameFailure) and isinstance(failure.error, MissingInput)
    partial = run_extract({1: frame}, {"conditions": ["depth", "normal", "canny"]})[1]
    assert isinstance(partial, OutputFrame) and set(partial.buffers) == {"control_depth", "control_canny"}
    assert partial.meta["failed_conditions"]["normal"]["code"] == "missing_input"
    assert "camera_matrix" in partial.meta["failed_conditions"]["normal"]["message"]
    static = run_extract({1: frame}, {"conditions": ["normal"]}, shot={"camera_matrix": blender_render.scene["frames"]["1"]["camera_matrix"]})[1]
    assert isinstance(static, OutputFrame)


@pytest.mark.blender
def test_two_objects_keep_two_stable_segment_colours_over_all_frames(blender_render):
    frames = blender_frames(blender_render)
    results = run_extract(frames, {"conditions": ["segmentation"]})
    colours: dict[str, set[tuple[int, ...]]] = {"Near": set(), "Mover": set()}
    for number, result in results.items():
        segmentation = result.buffers["control_segmentation"]
        assert segmentation.shape == (*frames[number][passes.OBJECT_INDEX].shape, 3)
        for name in colours:
            colours[name] |= {tuple(int(v) for v in c) for c in segmentation[masks(blender_render, frames[number])[name]]}
    assert len(colours["Near"]) == 1 and len(colours["Mover"]) == 1
    assert colours["Near"] != colours["Mover"]


@pytest.mark.blender
def test_canny_and_lineart_come_at_the_plate_resolution(blender_render):
    frames = blender_frames(blender_render)
    result = run_extract({1: frames[1]}, {"conditions": ["canny", "lineart"], "canny_low": 20, "canny_high": 60})[1]
    height, width = frames[1][passes.BEAUTY].shape[:2]
    assert result.buffers["control_canny"].shape == (height, width)
    assert result.buffers["control_lineart"].shape == (height, width)
    # The sphere's outline against the backdrop is an edge.
    assert result.buffers["control_canny"].max() == 255


@pytest.mark.blender
def test_conditions_written_to_exr_read_back_as_layers(blender_render, tmp_path):
    from framebridge.protocol.exr import read_layers, write_exr

    frames = blender_frames(blender_render)
    result = run_extract({1: frames[1]}, {"conditions": ["depth", "normal", "segmentation"]})[1]
    layers = read_layers(write_exr(tmp_path / "cond.exr", result.buffers, half=True))
    for name, image in result.buffers.items():
        np.testing.assert_allclose(layers[name], image / 255.0, atol=1e-3, err_msg=name)


# --- pure conditions --------------------------------------------------------------


def test_depth_background_and_far_are_black_near_is_white():
    depth = np.array([[1.0, 2.0, 4.0, 1e10, np.inf, 0.0, np.nan, 0.5]], dtype=np.float32)
    image = depth_condition(depth, DepthRange(1.0, 4.0))
    assert image.tolist()[0][:3] == [1.0, pytest.approx(1 / 3), 0.0]
    assert image.tolist()[0][3:7] == [0.0, 0.0, 0.0, 0.0]
    assert image[0, 7] == 1.0


def test_shot_depth_range_spans_the_foreground_of_every_frame():
    first = np.array([[1e10, 2.0], [np.inf, 3.0]], np.float32)
    later = np.array([[np.nan, 0.0, -1.0, 0.5, 7.0]], np.float16)
    assert passes.shot_depth_range(iter([first, later])) == [0.5, 7.0]
    assert passes.shot_depth_range([np.full((2, 2), 1e10, np.float32), np.zeros((0, 0), np.float32)]) is None
    assert passes.shot_depth_range([]) is None
    near, far = passes.shot_depth_range([np.full((2, 2), 4.0)])
    assert near == 4.0 < far


def test_the_op_measures_its_fallback_range_by_the_same_rule():
    depth = np.array([[1e10, 2.0, np.inf, 3.0, 0.0]], np.float32)
    measured = measure_depth_range(depth)
    assert [measured.near, measured.far] == passes.shot_depth_range([depth])
    assert BACKGROUND_DEPTH is passes.BACKGROUND_DEPTH


def test_first_frame_fallback_says_so_and_the_shot_range_keeps_a_later_nearer_object_unsaturated():
    first = np.full((4, 4), 8.0, np.float32)
    first[0, 0] = 4.0
    later = first.copy()
    later[1, 1] = 2.0  # nearer than anything in the first frame
    params = {"conditions": ["depth"], "output_dtype": "float32"}
    fallback = run_extract({1: {passes.DEPTH: first}, 2: {passes.DEPTH: later}}, params)
    assert fallback[2].meta["depth_range_source"] == "first_frame" and "shot_depth_range" in fallback[2].meta["depth_range_note"]
    assert fallback[2].buffers["control_depth"][0, 0] == fallback[2].buffers["control_depth"][1, 1] == 1.0  # saturated
    shot = {"depth_range": passes.shot_depth_range([first, later])}
    whole = run_extract({1: {passes.DEPTH: first}, 2: {passes.DEPTH: later}}, params, shot)
    assert "depth_range_note" not in whole[2].meta
    assert whole[2].buffers["control_depth"][1, 1] == 1.0 > whole[2].buffers["control_depth"][0, 0]


def test_segment_colours_depend_only_on_the_id():
    assert segment_colours(np.array([0]))[0].tolist() == [0, 0, 0]
    assert np.array_equal(segment_colours(np.array([5, 9])), segment_colours(np.array([9, 5]))[::-1])
    assert len({tuple(c) for c in segment_colours(np.arange(1, 200))}) == 199


def test_pose_is_drawn_in_openpose_colours_with_invisible_joints_skipped():
    joints = np.zeros((1, 18, 3), dtype=np.float32)
    joints[0, 1] = (50, 40, 1.0)  # neck
    joints[0, 2] = (30, 40, 1.0)  # right shoulder
    joints[0, 0] = (50, 10, 0.1)  # nose, not visible
    image = pose_condition(joints, 64, 96)
    assert image.shape == (64, 96, 3)
    assert image[40, 50].tolist() == list(JOINT_COLOURS[1])
    assert image[40, 30].tolist() == list(JOINT_COLOURS[2])
    assert image[40, 40].tolist() == [int(c * 0.6) for c in JOINT_COLOURS[0]]  # the neck-shoulder limb
    assert image[10, 50].tolist() == [0, 0, 0]


def test_pose_condition_through_the_op_uses_the_plate_size():
    joints = np.zeros((2, 18, 3), dtype=np.float32)
    result = run_extract({1: {passes.POSE_JOINTS: joints, passes.DEPTH: np.ones((30, 40), np.float32)}}, {"conditions": ["pose"]})[1]
    assert result.buffers["control_pose"].shape == (30, 40, 3)
    alone = run_extract({1: {passes.POSE_JOINTS: joints}}, {"conditions": ["pose"]}, shot={"resolution": [20, 10]})[1]
    assert alone.buffers["control_pose"].shape == (10, 20, 3)


def test_camera_space_normals_skip_the_camera_transform():
    normal = np.zeros((2, 3, 3), np.float32)
    normal[0] = (0.0, 0.0, 1.0)  # facing the camera
    normal[1] = (-1.0, 0.0, 0.0)  # facing left
    image = run_extract({1: {passes.NORMAL: normal}}, {"conditions": ["normal"], "normal_space": "camera"})[1].buffers["control_normal"]
    assert image[0, 0].tolist() == [128, 128, 255]
    assert image[1, 0].tolist() == [255, 128, 128]


def test_zero_normals_get_the_facing_colour_in_both_dtypes():
    normal = np.zeros((2, 2, 3), np.float32)
    for dtype, facing in (("uint8", [128, 128, 255]), ("float32", [0.5, 0.5, 1.0])):
        image = run_extract({1: {passes.NORMAL: normal}}, {"conditions": ["normal"], "normal_space": "camera", "output_dtype": dtype})[1]
        assert image.buffers["control_normal"][1, 1].tolist() == facing


def test_normals_slightly_off_unit_length_clip_instead_of_mirroring():
    normal = np.zeros((1, 2, 3), np.float32)
    normal[0, 0] = (1.05, -1.05, 1.0)  # red and green a little below 0
    normal[0, 1] = (-1.05, 1.05, 1.0)  # red and green a little above 1
    image = run_extract({1: {passes.NORMAL: normal}}, {"conditions": ["normal"], "normal_space": "camera"})[1].buffers["control_normal"]
    assert image[0, 0, :2].tolist() == [0, 0] and image[0, 1, :2].tolist() == [255, 255]


def test_float_conditions_outside_unit_range_clip_to_uint8():
    assert _as_dtype(np.array([[-0.1, 0.5, 1.2]], np.float32), "uint8").tolist() == [[0, 128, 255]]
    assert _as_dtype(np.array([[[-0.02, 0.0, 1.0]]], np.float32), "uint8").tolist() == [[[0, 0, 255]]]


def test_wide_ids_such_as_cryptomatte_hashes_get_stable_colours():
    ids = np.array([[0, 5_000_000], [70_000, 5_000_000]], dtype=np.float32)
    first = run_extract({1: {passes.OBJECT_INDEX: ids}}, {"conditions": ["segmentation"]})[1].buffers["control_segmentation"]
    second = run_extract({1: {passes.OBJECT_INDEX: ids[::-1].copy()}}, {"conditions": ["segmentation"]})[1].buffers["control_segmentation"]
    assert first[0, 1].tolist() == first[1, 1].tolist() == second[0, 1].tolist()
    assert first[0, 0].tolist() == [0, 0, 0] and first[1, 0].tolist() != first[0, 1].tolist()


def test_material_index_is_used_when_asked():
    frame = {passes.OBJECT_INDEX: np.zeros((2, 2), np.float32), passes.MATERIAL_INDEX: np.full((2, 2), 3.0, np.float32)}
    image = run_extract({1: frame}, {"conditions": ["segmentation"], "index_source": "material"})[1].buffers["control_segmentation"]
    assert image[0, 0].tolist() == segment_colours(np.array([3]))[0].tolist()


def test_lineart_draws_dark_strokes_white_and_flat_areas_black():
    beauty = np.full((64, 64, 3), 0.8, np.float32)
    beauty[:, 30:33] = 0.02
    lines = run_extract({1: {passes.BEAUTY: beauty}}, {"conditions": ["lineart"]})[1].buffers["control_lineart"]
    assert lines[:, 31].min() > 100 and lines[:, :20].max() == 0


def test_canny_thresholds_decide_which_edges_survive():
    beauty = np.zeros((32, 64, 3), np.float32)
    beauty[:, 16:] = 0.02  # a faint step in the darks
    beauty[:, 48:] = 1.0  # a strong step
    faint = run_extract({1: {passes.BEAUTY: beauty}}, {"conditions": ["canny"], "canny_low": 10, "canny_high": 20})[1].buffers["control_canny"]
    strict = run_extract({1: {passes.BEAUTY: beauty}}, {"conditions": ["canny"], "canny_low": 200, "canny_high": 400})[1].buffers["control_canny"]
    assert faint[:, 14:19].max() == 255 and strict[:, 14:19].max() == 0
    assert strict[:, 46:51].max() == 255


def test_float_output_dtypes_are_unit_range():
    frame = {passes.DEPTH: np.linspace(1, 5, 20, dtype=np.float32).reshape(4, 5), passes.OBJECT_INDEX: np.ones((4, 5), np.float32)}
    result = run_extract({1: frame}, {"conditions": ["depth", "segmentation"], "output_dtype": "float16"})[1]
    for image in result.buffers.values():
        assert image.dtype == np.float16 and 0.0 <= float(image.min()) <= float(image.max()) <= 1.0


# --- bad requests ------------------------------------------------------------------


def test_missing_pass_fails_that_frame_with_missing_input():
    results = run_extract({1: {passes.BEAUTY: np.zeros((4, 4, 3), np.float32)}, 2: {passes.DEPTH: np.ones((4, 4), np.float32)}}, {"conditions": ["depth"]})
    assert isinstance(results[1], FrameFailure) and isinstance(results[1].error, MissingInput)
    assert "depth" in results[1].error.message and results[1].error.details["buffer"] == "depth"
    assert isinstance(results[2], OutputFrame)


def test_buffers_of_different_sizes_fail_the_frame():
    frame = {passes.DEPTH: np.ones((4, 4), np.float32), passes.BEAUTY: np.ones((5, 4, 3), np.float32)}
    failure = run_extract({1: frame}, {"conditions": ["depth"]})[1]
    assert isinstance(failure.error, ShapeMismatch)


def _bad_frame_cases():
    joints = np.zeros((1, 18, 3), np.float32)
    joints[0, :2] = (3e38, 3e38, 1.0)
    return {
        "empty beauty for canny": (["canny"], {passes.BEAUTY: np.zeros((0, 0, 3), np.float32)}),
        "empty beauty for lineart": (["lineart"], {passes.BEAUTY: np.zeros((0, 0, 3), np.float32)}),
        "empty depth": (["depth"], {passes.DEPTH: np.zeros((0, 0), np.float32)}),
        "16-channel beauty": (["canny"], {passes.BEAUTY: np.zeros((8, 8, 16), np.float32)}),
        "2-channel beauty": (["lineart"], {passes.BEAUTY: np.zeros((8, 8, 2), np.float32)}),
        "(H, W) normal": (["normal"], {passes.NORMAL: np.zeros((8, 8), np.float32)}),
        "(H, W, 2) normal": (["normal"], {passes.NORMAL: np.zeros((8, 8, 2), np.float32)}),
        "NaN normal": (["normal"], {passes.NORMAL: np.full((8, 8, 3), np.nan, np.float32)}),
        "(H, W, 3) index": (["segmentation"], {passes.OBJECT_INDEX: np.ones((8, 8, 3), np.float32)}),
        "NaN index": (["segmentation"], {passes.OBJECT_INDEX: np.full((8, 8), np.nan, np.float32)}),
        "joints at 3e38": (["pose"], {passes.POSE_JOINTS: joints, passes.DEPTH: np.ones((8, 8), np.float32)}),
        "(18, 3) joints": (["pose"], {passes.POSE_JOINTS: joints[0], passes.DEPTH: np.ones((8, 8), np.float32)}),
    }


def _good_frame() -> dict[str, np.ndarray]:
    return {
        passes.BEAUTY: np.full((8, 8, 3), 0.5, np.float32),
        passes.DEPTH: np.full((8, 8), 2.0, np.float32),
        passes.NORMAL: np.tile(np.float32([0.0, 0.0, 1.0]), (8, 8, 1)),
        passes.OBJECT_INDEX: np.ones((8, 8), np.float32),
        passes.POSE_JOINTS: np.zeros((1, 18, 3), np.float32),
    }


@pytest.mark.parametrize("case", sorted(_bad_frame_cases()))
def test_a_bad_frame_fails_alone_with_a_typed_error_and_later_frames_still_run(case):
    conditions, bad = _bad_frame_cases()[case]
    params = {"conditions": conditions, "normal_space": "camera"}
    results = run_extract({1: _good_frame(), 2: bad, 3: _good_frame()}, params)
    assert isinstance(results[1], OutputFrame) and isinstance(results[3], OutputFrame)
    assert isinstance(results[2], FrameFailure)
    assert isinstance(results[2].error, (ShapeMismatch, NonFiniteValues, InvalidParams)), results[2].error
    assert "allowed" in results[2].error.message or "must" in results[2].error.message


def test_an_untyped_error_fails_only_its_frame(monkeypatch):
    def explode(*args, **kwargs):
        raise MemoryError("cannot allocate")

    op = ExtractOp()
    plan = op.prepare({"conditions": ["depth"]}, {}, [1, 2], None)
    calls = iter([None, explode])
    original = op.extract_frame
    monkeypatch.setattr(op, "extract_frame", lambda *args, **kwargs: (next(calls) or original)(*args, **kwargs))
    frames = (InputFrame(number, {passes.DEPTH: np.full((4, 4), 2.0, np.float32)}) for number in (1, 2))
    results = {result.number: result for result in op.run(plan, frames, JobContext("test", [1, 2], {}, lambda: False))}
    assert isinstance(results[1], OutputFrame)
    assert isinstance(results[2].error, FrameFailed) and "MemoryError: cannot allocate" in results[2].error.message


def test_shot_resolution_is_bounded_by_the_frame_size_limit():
    with pytest.raises(InvalidParams, match="16384"):
        ExtractOp().prepare({"conditions": ["pose"]}, {"resolution": [100000, 100000]}, [1], None)


@pytest.mark.parametrize(
    "params, shot, match",
    [
        ({"conditions": ["depth", "hed"]}, {}, "unknown conditions"),
        ({"conditions": []}, {}, "non-empty"),
        ({}, {}, "non-empty"),
        ({"conditions": ["canny"], "canny_low": -1}, {}, "canny_low"),
        ({"conditions": ["depth"], "depth_range": [5, 1]}, {}, "near < far"),
        ({"conditions": ["depth"]}, {"depth_range": "far"}, "shot depth_range"),
        ({"conditions": ["depth"], "output_dtype": "float64"}, {}, "output_dtype"),
        ({"conditions": ["depth"], "colour": "red"}, {}, "unknown params"),
        ({"conditions": ["normal"]}, {"camera_matrix": [[1, 0], [0, 1]]}, "4x4"),
    ],
)
def test_bad_params_are_refused_before_any_frame(params, shot, match):
    with pytest.raises(InvalidParams, match=match):
        ExtractOp().prepare(params, shot, [1], None)


def test_unknown_backend_is_refused():
    with pytest.raises(InvalidParams, match="backend"):
        ExtractOp().prepare({"conditions": ["depth"]}, {}, [1], "comfyui")


# --- estimators from local weights ---------------------------------------------------


@pytest.fixture
def tiny_depth_model(tmp_path, monkeypatch):
    """A random-weight DPT saved with save_pretrained, named in a models TOML the server reads."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    torch.manual_seed(0)
    config = DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37, image_size=32, patch_size=8,
        backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, reassemble_factors=[4, 2, 1, 0.5],
    )
    folder = tmp_path / "models" / "tiny-dpt"
    DPTForDepthEstimation(config).save_pretrained(folder)
    DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(folder)
    config_file = tmp_path / "models.toml"
    config_file.write_text('[estimators]\ndepth = "./models/tiny-dpt"\n')
    monkeypatch.setenv("FRAMEBRIDGE_MODELS", str(config_file))
    return folder


@pytest.mark.diffusers
def test_depth_estimator_loads_from_the_models_config_and_runs_on_a_plate(tiny_depth_model):
    plate = np.random.default_rng(3).random((48, 72, 3), dtype=np.float32)
    results = run_extract({1: {passes.BEAUTY: plate}}, {"conditions": ["depth", "canny"]}, backend="estimators")
    depth = results[1].buffers["control_depth"]
    assert depth.shape == (48, 72) and depth.dtype == np.uint8
    assert depth.min() == 0 and depth.max() == 255  # normalised per frame
    assert results[1].buffers["control_canny"].shape == (48, 72)


def test_missing_estimator_weights_name_the_files_and_where_to_put_them(tmp_path, monkeypatch):
    empty = tmp_path / "empty-model"
    empty.mkdir()
    config_file = tmp_path / "models.toml"
    config_file.write_text(f'[estimators]\ndepth = "{empty}"\n')
    monkeypatch.setenv("FRAMEBRIDGE_MODELS", str(config_file))
    with pytest.raises(ModelNotFound, match="config.json") as raised:
        ExtractOp().prepare({"conditions": ["depth"]}, {}, [1], "estimators")
    assert str(empty) in raised.value.fix and "model.safetensors" in raised.value.message


def test_unconfigured_estimator_says_which_role_to_add(tmp_path, monkeypatch):
    config_file = tmp_path / "models.toml"
    config_file.write_text("[estimators]\n")
    monkeypatch.setenv("FRAMEBRIDGE_MODELS", str(config_file))
    with pytest.raises(ModelNotFound, match="estimators.normal") as raised:
        ExtractOp().prepare({"conditions": ["normal"]}, {}, [1], "estimators")
    assert "[estimators]" in raised.value.fix and "scannet.pt" in raised.value.fix


# --- through a real server ------------------------------------------------------------


def test_server_keeps_serving_after_bad_extract_requests(server):
    with server.client() as client:
        with pytest.raises(InvalidParams):
            client.submit("extract", frames=[1], source=lambda n: {passes.DEPTH: np.ones((8, 8), np.float32)}, params={"conditions": ["nope"]})
        job = client.submit("extract", frames=[1, 2], source=lambda n: {passes.BEAUTY: np.zeros((8, 8, 3), np.float32)}, params={"conditions": ["depth"]})
        outcome = job.wait(timeout=60)
        assert set(outcome.failed) == {1, 2} and all(isinstance(error, MissingInput) for error in outcome.failed.values())
        good = client.submit("extract", frames=[1], source=lambda n: {passes.DEPTH: np.full((8, 8), 3.0, np.float32)}, params={"conditions": ["depth"]})
        assert good.wait(timeout=60).results[1]["control_depth"].shape == (8, 8)
        assert client.ping()
