"""FrameBridge for Blender: render a shot's passes, send them through an AI op, place the results.

A Blender 4.2+ extension (see ``blender_manifest.toml``) that is also the Python
package ``framebridge.blender_addon``. The bpy-facing modules are imported only
inside :func:`register`/:func:`unregister`, so the pure modules (``joints``,
``passes``, ``requests``, ``placement``, ``lipsync_keys``) import and test without Blender.
"""

from __future__ import annotations

import importlib

_BPY_MODULES = ("preferences", "properties", "operators", "panels", "expression_operators", "lipsync_properties",
                "lipsync_operators", "lipsync_panels")


def _modules():
    return [importlib.import_module(f"{__name__}.{name}") for name in _BPY_MODULES]


def register() -> None:
    """Register preferences, scene properties, operators and panels, in that order."""
    for module in _modules():
        module.register()


def unregister() -> None:
    """Unregister in the reverse order of :func:`register`."""
    for module in reversed(_modules()):
        module.unregister()
