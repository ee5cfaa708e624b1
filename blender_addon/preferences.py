"""Add-on preferences: where the server is and how long to wait for it."""

from __future__ import annotations

import bpy
from bpy.props import FloatProperty, StringProperty

from framebridge.protocol.session import ConnectionSettings

from .comms import connection_file_hint

__all__ = ["FrameBridgePreferences", "connection_settings", "register", "unregister"]

# The add-on's package name: "framebridge.blender_addon" as a module, "bl_ext.<repo>.framebridge" as an extension.
ADDON_ID = __package__


class FrameBridgePreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    connection_file: StringProperty(
        name="Connection File", subtype="FILE_PATH", default="",
        description="A client file from `framebridge connection export NAME` on the server (a studio GPU box), "
                    "or the server's own file on this machine; empty for the default location",
    )
    address: StringProperty(
        name="Address", default="",
        description="Override the address in the connection file, e.g. tcp://127.0.0.1:5581 (the key still comes from the file)",
    )
    timeout: FloatProperty(name="Request Timeout", default=5.0, min=0.1, max=600.0, unit="TIME_ABSOLUTE",
                           description="Seconds to wait for the server to answer a request")
    job_timeout: FloatProperty(name="Job Silence Timeout", default=120.0, min=1.0, max=3600.0, unit="TIME_ABSOLUTE",
                               description="Seconds a running job may stay silent before it is considered lost")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "connection_file")
        layout.label(text=f"Using: {connection_file_hint(bpy.path.abspath(self.connection_file))}")
        layout.prop(self, "address")
        row = layout.row()
        row.prop(self, "timeout")
        row.prop(self, "job_timeout")
        layout.operator("framebridge.test_connection", icon="LINKED")


def connection_settings(context: bpy.types.Context, connection_file: str = "") -> ConnectionSettings:
    """The preferences as plain settings; ``connection_file`` (e.g. from the command line) overrides them.

    With the add-on registered as a module rather than enabled as an extension
    there are no stored preferences, and the defaults apply.
    """
    addon = context.preferences.addons.get(ADDON_ID)
    preferences = addon.preferences if addon else None
    if preferences is None:
        return ConnectionSettings(connection_file=connection_file)
    return ConnectionSettings(
        connection_file=connection_file or bpy.path.abspath(preferences.connection_file),
        address=preferences.address,
        timeout=preferences.timeout,
        job_timeout=preferences.job_timeout,
    )


classes = (FrameBridgePreferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
