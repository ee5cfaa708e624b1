"""FrameBridge menus (GUI sessions only): each item calls one entry function, imported when it is chosen."""

import nuke


def _call(function_name, module="entry"):
    def run():
        import importlib

        return getattr(importlib.import_module(f"framebridge.nuke_plugin.host.{module}"), function_name)()

    run.__name__ = function_name
    return run


if nuke.GUI:
    for _menu in (nuke.menu("Nodes").addMenu("FrameBridge", icon="FrameBridge.png"), nuke.menu("Nuke").addMenu("FrameBridge")):
        _menu.addCommand("Restyle Selected", _call("restyle_selected"), icon="FrameBridge.png")
        _menu.addCommand("Extract Conditions", _call("extract_selected"), icon="FrameBridge.png")
        _menu.addCommand("FrameBridge Node", _call("new_node"), icon="FrameBridge.png")
        _menu.addCommand("FrameBridge Expression", _call("new_expression_node", "expression"), icon="FrameBridge.png")
        _menu.addCommand("Test Connection", _call("test_connection"))
        _menu.addCommand("LipSync", _call("create_node", "lipsync"), icon="FrameBridge.png")
        _menu.addCommand("FrameBridge Propagate", _call("new_propagate_node", "propagate"), icon="FrameBridge.png")
