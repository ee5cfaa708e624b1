"""FrameBridge: Nuke runs this at start-up, with or without a GUI (``nuke -t``), farm renders included.

It only makes the framebridge package importable (from a ``site-packages`` folder
next to this file, as the install bundle lays it out) and registers two cheap
callbacks; nothing heavy (numpy, zmq) is imported until a FrameBridge node is used.
The UI is in menu.py. The folder is found on ``nuke.pluginPath()`` rather than
through ``__file__``, which start-up scripts cannot rely on.
"""

import os
import site

import nuke

for _folder in nuke.pluginPath():
    _bundled = os.path.join(_folder, "site-packages")
    if os.path.isdir(os.path.join(_bundled, "framebridge")):
        site.addsitedir(_bundled)
        break

from framebridge.nuke_plugin.host import callbacks  # noqa: E402  (needs the site folder above)

nuke.addOnCreate(callbacks.on_create, nodeClass="Group")
nuke.addKnobChanged(callbacks.on_knob_changed, nodeClass="Group")
