"""FrameBridge: Nuke runs this at start-up, with or without a GUI (``nuke -t``).

It only makes the framebridge package importable (from a ``site-packages``
folder next to this file, if there is one) and registers callbacks; the UI is in
menu.py.
"""

import os
import site

import nuke

_BUNDLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "site-packages")
if os.path.isdir(_BUNDLED):
    site.addsitedir(_BUNDLED)

from framebridge.nuke_plugin.host import entry  # noqa: E402  (needs the site folder above)

nuke.addOnCreate(entry.on_create, nodeClass="Group")
nuke.addKnobChanged(entry.on_knob_changed, nodeClass="Group")
