"""FrameBridge: Nuke runs this at start-up, with or without a GUI (``nuke -t``).

It only makes the framebridge package importable (from a ``site-packages`` folder
holding it next to this file, if there is one) and registers callbacks; the UI is
in menu.py. The folder is found on ``nuke.pluginPath()`` rather than through
``__file__``, which start-up scripts cannot rely on.
"""

import os
import site

import nuke

for _folder in nuke.pluginPath():
    _bundled = os.path.join(_folder, "site-packages")
    if os.path.isdir(os.path.join(_bundled, "framebridge")):
        site.addsitedir(_bundled)
        break

from framebridge.nuke_plugin.host import entry  # noqa: E402  (needs the site folder above)

nuke.addOnCreate(entry.on_create, nodeClass="Group")
nuke.addKnobChanged(entry.on_knob_changed, nodeClass="Group")
