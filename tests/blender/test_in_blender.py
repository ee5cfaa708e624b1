"""The add-on in real Blender (the bpy 5.0 module, Cycles on the CPU) against a live `framebridge serve`.

Each test runs tests/blender/scenario.py in its own Python process (bpy state
lives for a whole process) and checks the JSON report it writes. The restyle
round trip installs the built extension zip with
``bpy.ops.extensions.package_install_files`` into a temporary
``BLENDER_USER_RESOURCES``; the other scenarios register ``framebridge.blender_addon``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures.server import issue_client_file
from framebridge.protocol import passes
from framebridge.protocol.exr import read_frame
from framebridge.server.cli import main

pytestmark = [pytest.mark.blender, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCENARIO = HERE / "scenario.py"
WIDTH, HEIGHT = 64, 48


def run_scenario(name: str, tmp_path: Path, *arguments: str, env: dict[str, str] | None = None) -> dict:
    report = tmp_path / f"{name}.json"
    command = [sys.executable, str(SCENARIO), name, "--report", str(report), *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return {**json.loads(report.read_text()), "stdout": result.stdout}


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory) -> Path:
    """The extension built for this platform from the installed wheels."""
    out = tmp_path_factory.mktemp("extension")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_blender_extension.py"), "--out", str(out)],
                   check=True, capture_output=True, timeout=300)
    (archive,) = out.glob("framebridge-*.zip")
    return archive


@pytest.fixture(scope="module")
def restyle_op(server) -> str:
    """``restyle`` once the server offers it, else ``echo`` (which returns the frames it gets)."""
    with server.client() as client:
        return "restyle" if "restyle" in client.capabilities()["ops"] else "echo"


@pytest.fixture(scope="module")
def restyled(tmp_path_factory, server, extension_zip, restyle_op) -> tuple[dict, Path]:
    """One 3-frame round trip through the installed extension."""
    tmp_path = tmp_path_factory.mktemp("restyle")
    out = tmp_path / "results"
    report = run_scenario("restyle", tmp_path, "--extension", str(extension_zip), "--op", restyle_op,
                          "--connection-file", str(server.connection_file), "--out", str(out),
                          env={"BLENDER_USER_RESOURCES": str(tmp_path / "blender_user")})
    return report, out


def test_extension_zip_holds_manifest_and_wheels(extension_zip):
    import zipfile

    names = zipfile.ZipFile(extension_zip).namelist()
    manifest = zipfile.ZipFile(extension_zip).read("blender_manifest.toml").decode()
    assert "__init__.py" in names and "blender_manifest.toml" in names
    wheels = [name for name in names if name.startswith("wheels/")]
    assert any(name.startswith("wheels/framebridge-") for name in wheels)
    assert all(f'"./{name}"' in manifest for name in wheels)
    assert not any(name.startswith("wheels/numpy") for name in wheels)


def test_render_restyle_writes_three_frames_at_render_size(restyled, restyle_op):
    report, out = restyled
    assert report["addon_module"] == "bl_ext.user_default.framebridge"
    assert report["result"] == ["FINISHED"]
    backend = "cpu" if restyle_op == "restyle" else "builtin"
    assert f"Info: FrameBridge {restyle_op} ({backend}): 3 frames in {out}, placed as sequencer" in report["stdout"]
    assert sorted(path.name for path in out.iterdir()) == ["frame_0001.exr", "frame_0002.exr", "frame_0003.exr"]
    for number in (1, 2, 3):
        beauty = read_frame(out / f"frame_{number:04d}.exr")["beauty"]
        assert beauty.shape[:2] == (HEIGHT, WIDTH)
        assert np.isfinite(beauty).all()


def test_results_are_placed_as_strip_node_and_background(restyled):
    report, out = restyled
    assert report["strip"]["directory"].rstrip("/") == str(out)
    assert report["strip"]["files"] == ["frame_0001.exr", "frame_0002.exr", "frame_0003.exr"]
    assert (report["strip"]["frame_start"], report["strip"]["frame_final_duration"]) == (1, 3)
    node = report["node"]
    assert node["image"] == str(out / "frame_0001.exr") and node["source"] == "SEQUENCE"
    assert (node["frame_start"], node["frame_duration"], node["frame_offset"]) == (1, 3, 0)
    assert report["background"]["image"] == str(out / "frame_0001.exr")


def test_rerun_renders_the_scene_not_the_placed_results(restyled, restyle_op):
    report, _ = restyled
    assert report["second_result"] == ["FINISHED"]
    assert report["strips_after_second"] == [f"FrameBridge {restyle_op}"]


def test_users_pass_and_output_settings_come_back(restyled):
    report, _ = restyled
    assert report["after"] == report["before"]
    assert report["before"]["passes"]["use_pass_z"] is False and report["before"]["file_format"] == "PNG"


def test_cancel_mid_job_stops_the_server_and_leaves_no_files(tmp_path, server):
    out = tmp_path / "results"
    report = run_scenario("cancel", tmp_path, "--op", "echo", "--connection-file", str(server.connection_file), "--out", str(out))
    assert report["staged_before_cancel"] == [1] and report["staging_existed"]
    assert report["job_state"] == "cancelled" and report["server_state"] == "cancelled"
    assert report["files"] == []
    assert report["after"] == report["before"]


def test_animated_strength_travels_as_keyframes(tmp_path, server):
    report = run_scenario("cancel", tmp_path, "--op", "echo", "--connection-file", str(server.connection_file),
                          "--out", str(tmp_path / "results"))
    assert report["requested_params"]["strength"] == {"1": 0.3, "2": 0.45, "3": 0.6}
    assert report["requested_params"]["conditions"] == {"depth": 1.0, "normal": 1.0, "pose": 1.0}


def test_known_pose_projects_to_the_expected_pixels(tmp_path):
    report = run_scenario("joints", tmp_path)
    np.testing.assert_allclose(report["posed_wrist_world"], [-0.9, -2.0, 1.1], atol=1e-5)
    assert report["shape"] == [1, 18, 3]
    focal, (width, height) = report["focal_pixels"], report["size"]

    def pinhole(x, y, z):
        """The camera at (0, -10, 0) looks along +Y with image up = +Z: a textbook pinhole projection."""
        depth = y + 10.0
        return [width / 2 + focal * x / depth, height / 2 - focal * z / depth]

    expected = {
        "right_wrist": pinhole(-0.9, -2.0, 1.1),   # the posed joint
        "right_elbow": pinhole(-0.9, -2.0, 0.8),
        "left_wrist": pinhole(1.2, -2.0, 0.8),
        "neck": pinhole(0.0, -2.0, 0.8),
        "nose": pinhole(0.0, -2.0, 1.3),
        "right_ankle": pinhole(-0.2, -2.0, -1.4),
    }
    for joint, pixel in expected.items():
        x, y, visible = report["joints"][joint]
        assert visible == 1.0, joint
        assert abs(x - pixel[0]) <= 1.0 and abs(y - pixel[1]) <= 1.0, (joint, (x, y), pixel)
    assert report["joints"]["right_eye"] == [0.0, 0.0, 0.0]  # the simple rig has no eye bones


def test_unreachable_server_is_a_clear_report(tmp_path, server):
    connection = json.loads(Path(server.connection_file).read_text())
    connection["address"] = "tcp://127.0.0.1:9"
    dead = tmp_path / "dead.json"
    dead.write_text(json.dumps(connection))
    report = run_scenario("unreachable", tmp_path, "--connection-file", str(dead), "--out", str(tmp_path / "results"))
    for message in (report["raised"], report["test_connection"]):
        assert message.startswith("Error: no FrameBridge server answers at tcp://127.0.0.1:9")
        assert "framebridge serve" in message and "Traceback" not in message
    assert report["after"]["passes"]["use_pass_z"] is False
    assert not (tmp_path / "results").exists()


def test_the_operator_renders_through_a_studio_server_with_a_client_file(tmp_path, studio_server):
    client_file = issue_client_file(studio_server, "blender-in-blender")
    out = tmp_path / "results"
    report = run_scenario("modal", tmp_path, "--op", "echo", "--connection-file", str(client_file), "--out", str(out))
    assert report["completed"]["outcome"] == ["FINISHED"]
    assert report["completed"]["files"] == ["frame_0001.exr", "frame_0002.exr", "frame_0003.exr"]


def test_a_revoked_client_file_is_reported_as_refused_not_unreachable(tmp_path, studio_server):
    client_file = issue_client_file(studio_server, "blender-revoked")
    assert main(["connection", "revoke", "blender-revoked", "--connection-file", str(studio_server.connection_file)]) == 0
    report = run_scenario("unreachable", tmp_path, "--connection-file", str(client_file), "--out", str(tmp_path / "results"))
    for message in (report["raised"], report["test_connection"]):
        assert "did not accept this client's key" in message and "new connection file" in message
    assert not (tmp_path / "results").exists()


def test_headless_command_from_a_clean_shell(tmp_path, server, restyle_op):
    blend = run_scenario("save", tmp_path, "--out", str(tmp_path / "scene"))["blend"]
    out = tmp_path / "results"
    clean = {"HOME": os.environ.get("HOME", str(tmp_path)), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "framebridge.blender_addon.headless", blend, "--frames", "1-3", "--out", str(out),
         "--connection-file", str(server.connection_file), "--op", restyle_op],
        capture_output=True, text=True, timeout=300, env=clean, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rendering frame 3/3" in result.stdout
    assert "3 frames written to" in result.stdout
    assert sorted(path.name for path in out.iterdir()) == ["frame_0001.exr", "frame_0002.exr", "frame_0003.exr"]


def test_headless_command_reports_a_missing_server_in_one_line(tmp_path):
    blend = run_scenario("save", tmp_path, "--out", str(tmp_path / "scene"))["blend"]
    result = subprocess.run(
        [sys.executable, "-m", "framebridge.blender_addon.headless", blend, "--out", str(tmp_path / "results"),
         "--connection-file", str(tmp_path / "absent.json")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 1
    assert "framebridge: error: no connection file" in result.stderr and "Traceback" not in result.stderr


def test_extract_conditions_come_back_as_images_with_the_pose_drawn(tmp_path, server):
    from framebridge.protocol.exr import read_layers

    out = tmp_path / "conditions"
    report = run_scenario("extract", tmp_path, "--connection-file", str(server.connection_file), "--out", str(out))
    assert report["result"] == ["FINISHED"]
    names = {"FrameBridge control_depth", "FrameBridge control_normal", "FrameBridge control_pose",
             "FrameBridge control_segmentation", "FrameBridge control_canny"}
    assert {name: report["images"].get(name) for name in names} == {name: [WIDTH, HEIGHT] for name in names}
    assert report["after"]["passes"]["use_pass_z"] is False
    pose = read_layers(out / "frame_0001.exr")["control_pose"].max(axis=2)
    # The rig's posed right wrist projects to (22.0, 11.8): the pose drawing has a joint dot there.
    assert pose[12, 22] > 0.5 and pose[40:, :10].max() == 0.0


def test_propagate_carries_keyframe_images_through_the_shot_and_places_them(tmp_path, server):
    out = tmp_path / "propagated"
    report = run_scenario("propagate", tmp_path, "--connection-file", str(server.connection_file), "--out", str(out))
    assert report["result"] == ["FINISHED"]
    assert report["key_lists"] == [1, 0, 2, 1, 0, 0]  # one remove operator edits either list and keeps a valid selection
    assert report["strip"] == ["frame_0001.exr", "frame_0002.exr", "frame_0003.exr"]
    first, last = (read_frame(out / f"frame_{n:04d}.exr")[passes.BEAUTY] for n in (1, 3))
    np.testing.assert_allclose(first[..., :3], np.broadcast_to([0.25, 0.5, 0.75], first[..., :3].shape), atol=1e-3)
    np.testing.assert_allclose(last[..., :3], 0.2159, atol=1e-3)  # byte 128 of the 8-bit sRGB keyframe, decoded
    middle = read_frame(out / "frame_0002.exr")[passes.BEAUTY][..., :3]
    assert middle.min() >= 0.2 and middle.max() <= 0.76
    assert report["after"]["passes"]["use_pass_object_index"] is False
    assert "'Small' for frame 2 is 8x8, the render is 64x48" in report["wrong_size_error"]
    assert not (tmp_path / "propagated_again").exists()


def test_modal_operator_runs_on_timer_ticks_and_esc_cancels(tmp_path, server):
    out = tmp_path / "results"
    report = run_scenario("modal", tmp_path, "--op", "echo", "--connection-file", str(server.connection_file), "--out", str(out))
    completed, escaped = report["completed"], report["escaped"]
    assert completed["outcome"] == ["FINISHED"] and completed["reports"][0][0] == "INFO"
    assert completed["files"] == ["frame_0001.exr", "frame_0002.exr", "frame_0003.exr"]
    assert "FrameBridge: rendering frame 3/3" in completed["statuses"]
    assert escaped["outcome"] == ["CANCELLED"]
    assert escaped["reports"] == [["WARNING", "FrameBridge echo cancelled; no result files were written"]]
    assert escaped["files"] == []
    assert completed["after"] == escaped["after"] == report["before"]


def test_a_render_error_in_the_modal_operator_is_reported_and_everything_is_restored(tmp_path, server):
    out = tmp_path / "results"
    report = run_scenario("render_error", tmp_path, "--op", "echo", "--connection-file", str(server.connection_file), "--out", str(out))
    assert report["first_tick"] == ["RUNNING_MODAL"]
    assert report["settings_changed_during_capture"]
    assert report["outcome"] == ["CANCELLED"]
    assert report["reports"] == [["ERROR", "FrameBridge echo failed: RuntimeError: Error: Render error (out of memory) in 'Scene'"]]
    assert report["after"] == report["before"]
    assert not report["temp_renders_left"] and report["connection_closed"] and report["files"] == []


def test_the_shot_sent_carries_the_depth_range_of_every_captured_frame(tmp_path, server):
    report = run_scenario("cancel", tmp_path, "--op", "echo", "--connection-file", str(server.connection_file),
                          "--out", str(tmp_path / "results"))
    near, far = report["shot"]["depth_range"]
    assert report["shot"]["near"] <= near < far <= report["shot"]["far"]
