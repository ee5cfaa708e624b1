"""FrameBridge menus (GUI sessions only): each item calls one entry function."""

import nuke

if nuke.GUI:
    from framebridge.nuke_plugin.host import entry

    for _menu in (nuke.menu("Nodes").addMenu("FrameBridge"), nuke.menu("Nuke").addMenu("FrameBridge")):
        _menu.addCommand("Restyle Selected", entry.restyle_selected)
        _menu.addCommand("Extract Conditions", entry.extract_selected)
        _menu.addCommand("FrameBridge Node", entry.new_node)
        _menu.addCommand("Test Connection", entry.test_connection)
        _menu.addCommand("LipSync", "from framebridge.nuke_plugin.host import lipsync; lipsync.create_node()")
