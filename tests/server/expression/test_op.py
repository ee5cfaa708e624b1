"""The expression op on real faces (CPU default): mouths open as the driver's do, the outside stays untouched."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.expression import drive_frames, linear, run_expression
from framebridge.protocol.errors import InvalidParams, MissingInput
from framebridge.server.faces import FaceTracker
from framebridge.server.faces.regions import MOUTH, mouth_open_ratio
from framebridge.server.faces.shapes import jitter
from framebridge.server.faces.warp import identity_stmap
from framebridge.server.ops.base import FrameFailure
from framebridge.server.colour import linear_to_display


def _display_u8(beauty: np.ndarray) -> np.ndarray:
    rgb = beauty[..., :3] / np.maximum(beauty[..., 3:4], 1e-6) if beauty.shape[2] == 4 else beauty
    return (linear_to_display(rgb) * 255 + 0.5).astype(np.uint8)


def _landmarks(provider, image: np.ndarray) -> np.ndarray:
    face = FaceTracker(provider).find(image)
    assert face is not None
    return face.landmarks


def test_a_drivers_opening_mouth_opens_the_target_mouth(second_face, mouth_driver, face_provider):
    driver, amounts = mouth_driver
    frames = {n: {"driving": linear(driver[n - 1])} for n in (1, 2, 3)}
    results = run_expression(frames, {"regions": ["lips"]}, {"source": linear(second_face, alpha=1.0)})
    before = _landmarks(face_provider, second_face)
    driver_drop = _landmarks(face_provider, driver[2])[57, 1] - _landmarks(face_provider, driver[0])[57, 1]
    after = _landmarks(face_provider, _display_u8(results[3].buffers["beauty"]))
    # The target face is 0.9 the driver's size: its lower lip drops about 0.9 of the driver's drop.
    ratio = (after[57, 1] - before[57, 1]) / (0.9 * driver_drop)
    assert 0.5 < ratio < 1.5
    assert mouth_open_ratio(after) > mouth_open_ratio(before) + 0.05
    # The first frame is the reference: it moves nothing.
    assert np.abs(results[1].buffers["beauty"] - linear(second_face, alpha=1.0)).max() < 0.02


def test_eyes_only_leaves_the_mouth_landmarks_within_one_pixel(astronaut, astronaut_face, face_provider):
    from framebridge.server.faces.shapes import open_mouth

    base = astronaut_face.landmarks
    blink = base.copy()
    blink[[37, 38, 43, 44], 1] += 3.0
    shapes = [base, open_mouth(blink, 10.0)]
    driver = drive_frames(astronaut, base, shapes)
    frames = {n: {"beauty": linear(astronaut), "driving": linear(driver[n - 1])} for n in (1, 2)}
    results = run_expression(frames, {"regions": "eyes", "smoothing": 0.0})
    before = _landmarks(face_provider, astronaut)
    after = _landmarks(face_provider, _display_u8(results[2].buffers["beauty"]))
    assert np.abs(after[list(MOUTH)] - before[list(MOUTH)]).max() <= 1.0
    # The lids moved as far as dlib sees the driver's (small eyes: about half the 3 px), the mouth not at all.
    moved = np.array(results[2].meta["target_landmarks"]) - np.array(results[2].meta["source_landmarks"])
    assert moved[[37, 38, 43, 44], 1].mean() > 0.5 and np.abs(moved[list(MOUTH)]).max() < 1e-6


def test_pixels_outside_the_matte_are_bit_identical_highlights_and_alpha_included(astronaut, mouth_driver):
    driver, _ = mouth_driver
    plate = linear(astronaut, alpha=0.9)
    plate[:40, :40, :3] = 7.5  # a highlight far beyond the display range
    frames = {n: {"beauty": plate, "driving": linear(driver[n - 1])} for n in (1, 3)}
    result = run_expression(frames)[3]
    matte = result.buffers["face_matte"]
    outside = matte == 0
    assert 0.5 < outside.mean() < 1.0
    assert np.array_equal(result.buffers["beauty"][outside], plate[outside])
    assert np.array_equal(result.buffers["beauty"][..., 3], plate[..., 3])
    assert np.array_equal(result.buffers["stmap"][outside], identity_stmap(matte.shape)[outside])
    assert not np.array_equal(result.buffers["beauty"][~outside], plate[~outside])


def test_a_frame_without_a_face_passes_through_and_is_named(astronaut, mouth_driver):
    driver, _ = mouth_driver
    empty = np.full_like(astronaut, 90)
    frames = {1: {"beauty": linear(astronaut), "driving": linear(driver[0])},
              2: {"beauty": linear(empty), "driving": linear(driver[2])}}
    result = run_expression(frames)[2]
    assert np.array_equal(result.buffers["beauty"], linear(empty))
    assert not result.buffers["face_matte"].any()
    assert result.meta["face"] is False and "no face in frame 2" in result.meta["warnings"][0]


def test_a_driving_frame_without_a_face_holds_the_last_motion(second_face, mouth_driver):
    driver, _ = mouth_driver
    frames = {1: {"driving": linear(driver[0])}, 2: {"driving": linear(driver[2])},
              3: {"driving": linear(np.full_like(driver[0], 90))}}
    results = run_expression(frames, {"smoothing": 0.0}, {"source": linear(second_face)})
    assert np.array_equal(results[3].buffers["beauty"], results[2].buffers["beauty"])
    assert "holding the last motion" in results[3].meta["warnings"][0]


def test_jittered_driver_landmarks_jitter_the_output_at_most_half_as_much(astronaut, astronaut_face, second_face,
                                                                          face_provider):
    rng = np.random.default_rng(5)
    base = astronaut_face.landmarks
    driver = drive_frames(astronaut, base, [base] + [jitter(base, 1.0, rng) for _ in range(23)])
    frames = {n: {"driving": linear(image)} for n, image in enumerate(driver, start=1)}
    results = run_expression(frames, {"smoothing": 0.5}, {"source": linear(second_face)})

    def roughness(tracks: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.diff(tracks, n=2, axis=0) ** 2)))

    driven = np.array([_landmarks(face_provider, image) for image in driver])
    output = np.array([results[n].meta["target_landmarks"] for n in sorted(results)])
    assert roughness(output) <= 0.5 * roughness(driven)


def test_a_rerun_is_served_from_the_cache(tmp_path, second_face, mouth_driver):
    driver, _ = mouth_driver
    frames = {n: {"driving": linear(driver[n - 1])} for n in (1, 2, 3)}
    first = run_expression(frames, {"cache": True}, {"source": linear(second_face)}, cache_dir=tmp_path)
    second = run_expression(frames, {"cache": True}, {"source": linear(second_face)}, cache_dir=tmp_path)
    assert [first[n].meta["cache"] for n in (1, 2, 3)] == ["miss"] * 3
    assert [second[n].meta["cache"] for n in (1, 2, 3)] == ["hit"] * 3
    for n in (1, 2, 3):
        for name in ("beauty", "face_matte", "stmap"):
            assert np.array_equal(first[n].buffers[name], second[n].buffers[name])


def test_a_later_reference_frame_is_read_ahead_and_moves_nothing_on_itself(second_face, mouth_driver):
    driver, _ = mouth_driver
    frames = {n: {"driving": linear(driver[n - 1])} for n in (1, 2, 3)}
    results = run_expression(frames, {"reference_frame": 3, "regions": "lips", "smoothing": 0.0},
                             {"source": linear(second_face)})
    assert sorted(results) == [1, 2, 3]
    # Tracked and freshly detected boxes differ slightly, so the reference frame moves the face by a pixel at most.
    still = np.array(results[3].meta["target_landmarks"]) - np.array(results[3].meta["source_landmarks"])
    assert np.abs(still).max() < 1.5
    # Against an open-mouthed neutral frame, the closed driver closes the target's mouth further.
    assert results[1].meta["target_landmarks"][57][1] < results[3].meta["target_landmarks"][57][1]


def test_a_source_and_a_per_frame_beauty_together_fail_each_frame_by_name(second_face, mouth_driver):
    driver, _ = mouth_driver
    frames = {1: {"beauty": linear(second_face), "driving": linear(driver[0])}}
    result = run_expression(frames, {}, {"source": linear(second_face)})[1]
    assert isinstance(result, FrameFailure) and isinstance(result.error, InvalidParams)
    assert "send one of them" in result.error.message


def test_a_frame_without_its_driving_buffer_is_named(astronaut, mouth_driver):
    driver, _ = mouth_driver
    frames = {1: {"beauty": linear(astronaut), "driving": linear(driver[0])}, 2: {"beauty": linear(astronaut)}}
    result = run_expression(frames)[2]
    assert isinstance(result, FrameFailure) and isinstance(result.error, MissingInput)


@pytest.mark.parametrize("params, message", [
    ({"regions": ["lips", "ears"]}, "unknown regions"),
    ({"multipliers": {"lips": float("nan")}}, "finite"),
    ({"multipliers": {"lips": float("inf")}}, "finite"),
    ({"smoothing": 2.0}, "within"),
    ({"driving_range": [1, 2]}, "say how they pair"),
    ({"driving_range": [1, 2], "driving_offset": 0}, "shorter than the target range"),
    ({"reference_frame": 500}, "job buffer 'reference'"),
    ({"face": "smallest"}, "face must be"),
])
def test_bad_params_are_refused_before_any_frame(params, message):
    from framebridge.server.ops.expression import ExpressionOp

    with pytest.raises(InvalidParams, match=message):
        ExpressionOp().prepare(params, {}, [1, 2, 3], None, {})
