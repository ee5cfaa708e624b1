"""Farm entry: ``nuke -t /path/to/FrameBridge/framebridge_send.py SCRIPT.nk NODE --frames=1001-1100 [...]``.

Sends one node of a script for a frame range and exits 0 only when every frame was
published; see ``framebridge.nuke_plugin.core.farm`` for the arguments. Like
init.py, it uses the ``site-packages`` folder next to it when there is one.
"""

import os
import site
import sys

_bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "site-packages")
if os.path.isdir(os.path.join(_bundled, "framebridge")):
    site.addsitedir(_bundled)

from framebridge.nuke_plugin.host import farm  # noqa: E402  (needs the site folder above)

sys.exit(farm.main(sys.argv[1:]))
