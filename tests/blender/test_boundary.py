"""The add-on's pure modules import without Blender, so plain pytest covers them."""

import subprocess
import sys


def test_pure_modules_import_without_bpy():
    code = (
        "import sys\n"
        "import framebridge.blender_addon\n"
        "from framebridge.blender_addon import comms, joints, lipsync_keys, passes, placement, requests\n"
        "assert 'bpy' not in sys.modules, 'bpy was imported'\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
