"""FrameBridge for Nuke: a plugin-path folder, and the package ``framebridge.nuke_plugin``.

``core`` holds the pure logic (no ``nuke`` import anywhere in it): op params from
knob values, which layers to write, result paths and staged publication, driving a
job. ``host`` is the thin layer that talks to Nuke. ``init.py`` and ``menu.py`` are
Nuke's entry files and are not part of the package API.
"""
