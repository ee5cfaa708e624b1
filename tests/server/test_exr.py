"""EXR frames in and out: round trips, Blender renders, Nuke names, and hostile files."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest

from framebridge.protocol import passes
from framebridge.protocol.buffers import Limits
from framebridge.protocol.errors import ExrError, FrameTooLarge
from framebridge.protocol.exr import read_channels, read_frame, read_info, read_layers, write_exr

RNG = np.random.default_rng(7)


def _frame(height: int = 24, width: int = 32) -> dict[str, np.ndarray]:
    return {
        passes.BEAUTY: RNG.random((height, width, 4), dtype=np.float32),
        passes.DEPTH: RNG.uniform(1.0, 50.0, (height, width)).astype(np.float32),
        passes.NORMAL: RNG.uniform(-1.0, 1.0, (height, width, 3)).astype(np.float32),
        passes.MOTION_BACKWARD: RNG.uniform(-8.0, 8.0, (height, width, 2)).astype(np.float32),
        passes.MOTION_FORWARD: RNG.uniform(-8.0, 8.0, (height, width, 2)).astype(np.float32),
        passes.OBJECT_INDEX: RNG.integers(0, 5, (height, width)).astype(np.float32),
        passes.MATERIAL_INDEX: RNG.integers(0, 5, (height, width)).astype(np.float32),
    }


@pytest.mark.parametrize("multipart", [False, True])
@pytest.mark.parametrize("compression", ["none", "zip", "zips", "piz", "rle"])
def test_float_frames_round_trip_exactly(tmp_path, multipart, compression):
    frame = _frame()
    path = write_exr(tmp_path / "frame.exr", frame, multipart=multipart, compression=compression)
    back = read_frame(path)
    assert set(back) == set(frame)
    for name, array in frame.items():
        assert back[name].dtype == np.float32
        np.testing.assert_array_equal(back[name], array, err_msg=name)


def test_half_frames_round_trip_within_half_precision(tmp_path):
    frame = _frame()
    back = read_frame(write_exr(tmp_path / "half.exr", frame, half=True, compression="pxr24"))
    for name, array in frame.items():
        np.testing.assert_allclose(back[name], array.astype(np.float16).astype(np.float32), rtol=1e-3, atol=1e-3, err_msg=name)


def test_lossy_dwaa_keeps_beauty_close(tmp_path):
    beauty = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (48, 1))[..., None].repeat(3, axis=2)
    back = read_frame(write_exr(tmp_path / "dwaa.exr", {passes.BEAUTY: beauty}, compression="dwaa"))
    assert np.abs(back[passes.BEAUTY] - beauty).max() < 0.02


def test_uint8_conditions_are_stored_as_unit_floats_under_their_own_layer(tmp_path):
    condition = np.arange(24 * 32 * 3, dtype=np.uint32).reshape(24, 32, 3).astype(np.uint8)
    mask = np.full((24, 32), 255, dtype=np.uint8)
    path = write_exr(tmp_path / "cond.exr", {"control_normal": condition, "control_canny": mask})
    assert set(read_info(path).channels) == {"control_normal.R", "control_normal.G", "control_normal.B", "control_canny.Y"}
    layers = read_layers(path)
    np.testing.assert_allclose(layers["control_normal"], condition / 255.0, atol=1e-3)
    np.testing.assert_allclose(layers["control_canny"], 1.0, atol=1e-3)
    assert read_frame(path) == {}


def test_write_replaces_the_target_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "frame.exr"
    write_exr(path, {passes.DEPTH: np.ones((4, 4), np.float32)})
    write_exr(path, {passes.DEPTH: np.full((4, 4), 2.0, np.float32)})
    assert [p.name for p in tmp_path.iterdir()] == ["frame.exr"]
    assert read_frame(path)[passes.DEPTH][0, 0] == 2.0


def test_data_window_smaller_than_display_window_is_placed_and_zero_padded(tmp_path):
    import OpenEXR

    pixels = np.full((2, 3), 5.0, np.float32)
    header = {"type": OpenEXR.scanlineimage, "compression": OpenEXR.ZIP_COMPRESSION,
              "displayWindow": ((0, 0), (9, 7)), "dataWindow": ((4, 2), (6, 3))}
    OpenEXR.File(header, {"depth.Z": pixels}).write(str(tmp_path / "bbox.exr"))
    depth = read_frame(tmp_path / "bbox.exr")[passes.DEPTH]
    assert depth.shape == (8, 10)
    assert depth[2:4, 4:7].tolist() == pixels.tolist()
    assert depth.sum() == pixels.sum()


def test_nuke_named_exr_reads_into_the_same_buffers(tmp_path):
    import OpenEXR

    height, width = 6, 8
    rgba = RNG.random((4, height, width), dtype=np.float32)
    depth = RNG.uniform(1, 9, (height, width)).astype(np.float32)
    normal = RNG.uniform(-1, 1, (3, height, width)).astype(np.float32)
    forward = RNG.uniform(-3, 3, (2, height, width)).astype(np.float32)
    backward = RNG.uniform(-3, 3, (2, height, width)).astype(np.float32)
    channels = {"R": rgba[0], "G": rgba[1], "B": rgba[2], "A": rgba[3], "depth.Z": depth,
                "N.x": normal[0], "N.y": normal[1], "N.z": normal[2],
                "forward.u": forward[0], "forward.v": forward[1], "backward.u": backward[0], "backward.v": backward[1]}
    OpenEXR.File({"type": OpenEXR.scanlineimage, "compression": OpenEXR.PIZ_COMPRESSION}, channels).write(str(tmp_path / "nuke.exr"))
    frame = read_frame(tmp_path / "nuke.exr")
    np.testing.assert_array_equal(frame[passes.BEAUTY], np.moveaxis(rgba, 0, -1))
    np.testing.assert_array_equal(frame[passes.DEPTH], depth)
    np.testing.assert_array_equal(frame[passes.NORMAL], np.moveaxis(normal, 0, -1))
    # Nuke's v points up; canonical motion points down.
    np.testing.assert_array_equal(frame[passes.MOTION_FORWARD], np.stack([forward[0], -forward[1]], axis=-1))
    np.testing.assert_array_equal(frame[passes.MOTION_BACKWARD], np.stack([backward[0], -backward[1]], axis=-1))


def test_cryptomatte_ids_become_stable_24_bit_indices(tmp_path):
    hashes = np.array([[0x3F2A51C7, 0x1234ABCD]], dtype=np.uint32)
    ranks = {f"ViewLayer.CryptoObject00.{c}": np.zeros((1, 2), np.float32) for c in "GBA"}
    import OpenEXR

    channels = {"ViewLayer.CryptoObject00.R": hashes.view(np.float32), **ranks}
    OpenEXR.File({"type": OpenEXR.scanlineimage, "compression": OpenEXR.ZIP_COMPRESSION}, channels).write(str(tmp_path / "crypto.exr"))
    index = read_frame(tmp_path / "crypto.exr")[passes.OBJECT_INDEX]
    assert index.tolist() == [[float(0x3F2A51C7 & 0xFFFFFF), float(0x1234ABCD & 0xFFFFFF)]]


# --- hostile and broken files -------------------------------------------------


def test_truncated_exr_raises_exr_error(tmp_path):
    path = write_exr(tmp_path / "whole.exr", _frame(64, 64))
    data = path.read_bytes()
    cut = tmp_path / "cut.exr"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExrError, match="cut.exr"):
        read_frame(cut)


def test_corrupt_compressed_pixels_raise_exr_error(tmp_path):
    path = write_exr(tmp_path / "whole.exr", _frame(64, 64), compression="zip")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    corrupt = tmp_path / "corrupt.exr"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(ExrError, match="corrupt"):
        read_frame(corrupt)


def test_header_cut_short_raises_exr_error(tmp_path):
    path = write_exr(tmp_path / "whole.exr", _frame(8, 8))
    cut = tmp_path / "cut.exr"
    cut.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ExrError):
        read_info(cut)


def _patch_box(data: bytes, attribute: bytes, box: tuple[int, int, int, int]) -> bytes:
    marker = attribute + b"\x00box2i\x00"
    at = data.index(marker) + len(marker)
    assert struct.unpack("<i", data[at : at + 4])[0] == 16
    return data[: at + 4] + struct.pack("<4i", *box) + data[at + 20 :]


def test_absurd_dimensions_in_header_are_refused_before_any_pixel_is_read(tmp_path):
    data = write_exr(tmp_path / "small.exr", {passes.DEPTH: np.ones((4, 4), np.float32)}, compression="none").read_bytes()
    for attribute in (b"dataWindow", b"displayWindow"):
        data = _patch_box(data, attribute, (0, 0, 2_000_000, 1_000_000))
    huge = tmp_path / "huge.exr"
    huge.write_bytes(data)
    with pytest.raises(FrameTooLarge, match="2000001x1000001"):
        read_frame(huge)


def test_dimensions_over_the_limits_raise_frame_too_large(tmp_path):
    path = write_exr(tmp_path / "wide.exr", {passes.DEPTH: np.ones((4, 300), np.float32)})
    with pytest.raises(FrameTooLarge, match="300x4"):
        read_frame(path, Limits(max_width=256))


def test_not_an_exr_and_missing_files_raise_exr_error(tmp_path):
    junk = tmp_path / "junk.exr"
    junk.write_bytes(b"\x76\x2f\x31\x01" + bytes(range(256)) * 4)
    with pytest.raises(ExrError):
        read_channels(junk)
    with pytest.raises(ExrError, match="no such file"):
        read_frame(tmp_path / "absent.exr")


def test_write_refuses_mismatched_sizes_and_unknown_compression(tmp_path):
    with pytest.raises(ExrError, match="one size"):
        write_exr(tmp_path / "x.exr", {"a": np.zeros((2, 2), np.float32), "b": np.zeros((3, 3), np.float32)})
    with pytest.raises(ExrError, match="compression"):
        write_exr(tmp_path / "x.exr", {"a": np.zeros((2, 2), np.float32)}, compression="jpeg")


def test_module_imports_without_openexr_and_says_how_to_install_it(tmp_path):
    code = (
        "import sys; sys.modules['OpenEXR'] = None\n"
        "from framebridge.protocol import exr\n"
        "from framebridge.protocol.errors import ExrError\n"
        "try:\n    exr.read_frame('x.exr')\nexcept ExrError as error:\n    print(error.fix)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install" in result.stdout


def test_a_camera_matrix_is_written_as_the_standard_header_attribute_and_read_back(tmp_path):
    import OpenEXR

    from framebridge.protocol.camera_metadata import STANDARD_ATTRIBUTE

    camera = np.array([[1, 0, 0, 0.5], [0, 0, -1, -10], [0, 1, 0, 2], [0, 0, 0, 1]], dtype=np.float32)
    frame = {passes.BEAUTY: RNG.random((8, 12, 4), dtype=np.float32), passes.CAMERA_MATRIX: camera}
    write_exr(tmp_path / "f.exr", frame)
    header = OpenEXR.File(str(tmp_path / "f.exr"), header_only=True).parts[0].header
    # OpenEXR's camera looks down +z with row vectors: the camera's position maps to the origin, a point ahead to +z.
    position, ahead = np.array([0.5, -10, 2, 1]), np.array([0.5, -7, 2, 1])
    np.testing.assert_allclose(position @ header[STANDARD_ATTRIBUTE], [0, 0, 0, 1], atol=1e-5)
    np.testing.assert_allclose(ahead @ header[STANDARD_ATTRIBUTE], [0, 0, 3, 1], atol=1e-5)
    back = read_frame(tmp_path / "f.exr")
    assert set(back) == {passes.BEAUTY, passes.CAMERA_MATRIX}
    np.testing.assert_allclose(back[passes.CAMERA_MATRIX], camera, atol=1e-6)


def test_a_camera_in_blenders_stamp_note_is_read_and_a_malformed_one_ignored():
    from framebridge.protocol.camera_metadata import camera_from_headers, camera_note

    camera = np.arange(16, dtype=np.float32).reshape(4, 4) + np.eye(4, dtype=np.float32)
    note = "shot 12, take 3\n" + camera_note(camera)
    np.testing.assert_array_equal(camera_from_headers([{"Note": "unrelated"}, {"Note": note}]), camera)
    assert camera_from_headers([{"Note": "framebridge.camera_matrix=[[1, 2]]"}]) is None
    assert camera_from_headers([{"Note": "framebridge.camera_matrix=[[NaN" + ", 0" * 3 + "]]"}]) is None
    assert camera_from_headers([{}]) is None


# --- real Blender renders -------------------------------------------------------


@pytest.mark.blender
def test_blender_multilayer_render_reads_into_canonical_buffers(blender_render):
    frame = read_frame(blender_render.path(1))
    height, width = blender_render.scene["height"], blender_render.scene["width"]
    assert {name: array.shape for name, array in frame.items()} == {
        passes.BEAUTY: (height, width, 4),
        passes.DEPTH: (height, width),
        passes.NORMAL: (height, width, 3),
        passes.MOTION_BACKWARD: (height, width, 2),
        passes.MOTION_FORWARD: (height, width, 2),
        passes.OBJECT_INDEX: (height, width),
        passes.MATERIAL_INDEX: (height, width),
        passes.CAMERA_MATRIX: (4, 4),
    }
    assert set(np.unique(frame[passes.OBJECT_INDEX])) == set(blender_render.scene["pass_index"].values())


@pytest.mark.blender
def test_blender_renders_carry_each_frames_camera_in_the_exr_header(blender_render):
    for number in blender_render.frames:
        expected = np.array(blender_render.scene["frames"][str(number)]["camera_matrix"], dtype=np.float32)
        np.testing.assert_allclose(read_frame(blender_render.path(number))[passes.CAMERA_MATRIX], expected, atol=1e-6)


@pytest.mark.blender
def test_blender_vector_pass_matches_the_movers_known_pixel_motion(blender_render):
    """Pins Blender's Vector convention: XY to the previous frame, ZW from the next, y up."""
    pixels = {int(number): np.array(xy) for number, xy in blender_render.scene["mover_pixels"].items()}
    mover = blender_render.scene["pass_index"]["Mover"]
    for number in blender_render.frames:
        frame = read_frame(blender_render.path(number))
        inside = frame[passes.OBJECT_INDEX] == mover
        backward = np.median(frame[passes.MOTION_BACKWARD][inside], axis=0)
        forward = np.median(frame[passes.MOTION_FORWARD][inside], axis=0)
        np.testing.assert_allclose(backward, pixels[number - 1] - pixels[number], atol=0.05)
        np.testing.assert_allclose(forward, pixels[number + 1] - pixels[number], atol=0.05)
        # The mover accelerates, so backward and forward motion cannot be confused.
        assert np.linalg.norm(forward) > np.linalg.norm(backward) + 1.0
        still = frame[passes.OBJECT_INDEX] == blender_render.scene["pass_index"]["Near"]
        assert np.abs(frame[passes.MOTION_FORWARD][still]).max() < 1e-3


@pytest.mark.blender
def test_blender_depth_is_distance_along_the_camera_axis(blender_render):
    frame = read_frame(blender_render.path(1))
    backdrop = frame[passes.OBJECT_INDEX] == blender_render.scene["pass_index"]["Backdrop"]
    np.testing.assert_allclose(frame[passes.DEPTH][backdrop], 10.0, atol=1e-3)


@pytest.mark.blender
def test_blender_cryptomatte_ids_match_the_manifest_and_the_index_pass(blender_render):
    import json

    import OpenEXR

    from framebridge.protocol.channels import find_buffers
    from framebridge.protocol.exr import assemble_buffer

    path = blender_render.path(2)
    channels = read_channels(path)
    crypto_only = {name: pixels for name, pixels in channels.items() if "Index" not in name}
    source = find_buffers(crypto_only)[passes.OBJECT_INDEX]
    assert source.channels == ("ViewLayer.CryptoObject00.r",)
    ids = assemble_buffer(source, crypto_only)
    header = OpenEXR.File(str(path), header_only=True).parts[0].header
    manifest_key = next(key for key in header if key.startswith("cryptomatte/") and key.endswith("/manifest") and "CryptoObject" in header[key.replace("manifest", "name")])
    manifest = json.loads(header[manifest_key])
    pass_index = channels["ViewLayer.Object Index.X"]
    for name, index in blender_render.scene["pass_index"].items():
        expected = int(manifest[name], 16) & 0xFFFFFF
        assert np.median(ids[pass_index == index]) == expected, name


def test_a_tiny_data_window_in_a_huge_display_window_is_refused_before_allocating_it(tmp_path):
    import OpenEXR

    header = {"type": OpenEXR.scanlineimage, "compression": OpenEXR.ZIP_COMPRESSION,
              "displayWindow": ((0, 0), (4095, 4095)), "dataWindow": ((0, 0), (0, 0))}
    pixel = np.ones((1, 1), np.float32)
    OpenEXR.File(header, {"R": pixel, "G": pixel, "B": pixel, "A": pixel}).write(str(tmp_path / "tiny.exr"))
    assert (tmp_path / "tiny.exr").stat().st_size < 1000
    with pytest.raises(FrameTooLarge, match="display"):
        read_frame(tmp_path / "tiny.exr", Limits(max_message_bytes=64 << 20))
