"""The plugin's pure modules import without Nuke, so plain pytest covers them."""

import subprocess
import sys


def test_pure_modules_import_without_nuke():
    code = (
        "import sys\n"
        "import framebridge.nuke_plugin\n"
        "from framebridge.nuke_plugin.core import job, knobs, layers, lipsync, paths, requests, session\n"
        "assert 'nuke' not in sys.modules, 'nuke was imported'\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'framebridge.blender_addon' not in sys.modules, 'the Blender add-on was imported'\n"
        "try:\n"
        "    import framebridge.nuke_plugin.host.nodes\n"
        "except ImportError as error:\n"
        "    assert 'nuke' in str(error), error\n"
        "else:\n"
        "    raise AssertionError('the host layer imported without nuke')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert result.returncode == 0, result.stderr
