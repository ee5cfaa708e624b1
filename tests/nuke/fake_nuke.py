"""A tiny stand-in for Nuke's ``nuke`` module, for testing the plugin's thin layer outside Nuke.

It follows the names of Nuke's documented Python API (``nuke.nodes.Write``,
``nuke.execute``, ``Knob.setValue``/``value``/``isAnimated``/``valueAt``/
``setValueAt``, ``Node.channels``/``setInput``/``setXYpos``, ``nuke.ProgressTask``,
``nuke.executeInMainThread``, ``nuke.addOnCreate``, ``nuke.menu``, ...) and
models only what the plugin uses, as strictly as real Nuke where the plugin could
go wrong: string knobs' ``value()`` evaluates TCL (``[...]``, ``$var``) while
``getText()`` is raw; File knobs' ``value()`` is normalised to ``%04d``;
``nuke.nodes.<Class>`` creates in the current group context (a Group's ``begin()``,
or the Group whose button or knobChanged is running, see :func:`press`); a deleted
node raises ``ValueError`` on use; ``node["missing"]`` raises ``NameError``;
``executeInMainThread`` queues the call until :func:`run_main_thread` (the event loop)
runs it. Images flow for real: a source node made with
:func:`make_image_node` holds per-frame channel planes (``rgba.red``, ``depth.Z``),
Remove and Write nodes filter them, and ``execute`` writes float EXRs the way
Nuke names channels (``R, G, B, A`` for rgba, ``layer.channel`` otherwise).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any
from pathlib import Path


GUI = False
STARTLINE = 0x1000

messages: list[str] = []
executed: list[tuple[str, int, int, int]] = []
deleted: list[str] = []
callbacks: dict[str, list[tuple[object, str]]] = {"onCreate": [], "knobChanged": []}
menus: dict[str, "Menu"] = {}
progress_tasks: list["ProgressTask"] = []
cancel_at_progress: int | None = None  # a ProgressTask reports cancelled once its progress reaches this

_selected: list["Node"] = []
_this_node: "Node | None" = None
_this_knob: "Knob | None" = None
_group_stack: list["Node"] = []
_main_thread_queue: list[tuple[object, tuple, dict]] = []
undo_log: list[str] = []


# ---- knobs -------------------------------------------------------------------------------------


class Knob:
    def __init__(self, name: str, label: str = "", value: object = None):
        self._name = name
        self._label = label
        self._value = value
        self._keys: dict[float, float] = {}
        self._enabled = True
        self._flags = STARTLINE
        self._tooltip = ""

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def _convert(self, value: object) -> object:
        return value

    def setValue(self, value: object) -> bool:
        self._value = self._convert(value)
        return True

    def value(self) -> object:
        return self._value

    def getValue(self) -> object:
        return self.value()

    def setAnimated(self) -> bool:
        self._keys = self._keys or {}
        return True

    def setValueAt(self, value: float, time: float) -> bool:
        self._keys[float(time)] = float(value)
        return True

    def isAnimated(self) -> bool:
        return bool(self._keys)

    def valueAt(self, time: float, index: int = 0) -> object:
        if not self._keys:
            return self.value()
        times = sorted(self._keys)
        before = [key for key in times if key <= float(time)]
        if before and getattr(self, "_interpolations", {}).get(before[-1]) == CONSTANT:
            return self._keys[before[-1]]
        import numpy as np  # imported when used, like everything heavy: init.py's tests check what Nuke start imports

        return float(np.interp(float(time), times, [self._keys[t] for t in times]))

    def clearAnimated(self) -> bool:
        self._keys = {}
        self._interpolations = {}
        return True

    def animation(self, index: int) -> "AnimationCurve | None":
        return AnimationCurve(self) if self._keys else None

    def setEnabled(self, enabled: bool) -> None:
        self._enabled = bool(enabled)

    def enabled(self) -> bool:
        return self._enabled

    def setTooltip(self, text: str) -> None:
        self._tooltip = text

    def clearFlag(self, flag: int) -> None:
        self._flags &= ~flag

    def setFlag(self, flag: int) -> None:
        self._flags |= flag

    def getFlag(self, flag: int) -> bool:
        return bool(self._flags & flag)


CONSTANT = 2
LINEAR = 3
SMOOTH = 0


class AnimationKey:
    def __init__(self, x: float, y: float):
        self.x, self.y = x, y


class AnimationCurve:
    """A knob's curve: its keys, and their interpolation (``Knob.interpolation_at`` reads it back in tests)."""

    def __init__(self, knob: Knob):
        self._knob = knob

    def keys(self) -> list[AnimationKey]:
        return [AnimationKey(x, y) for x, y in sorted(self._knob._keys.items())]

    def changeInterpolation(self, keys: list[AnimationKey], interpolation: int) -> None:
        interpolations = self._knob.__dict__.setdefault("_interpolations", {})
        for key in keys:
            interpolations[float(key.x)] = interpolation


class Tab_Knob(Knob):
    pass


class XY_Knob(Knob):
    """Two values (x, y); ``setValueAt(value, time, index)`` keys one of them, as Nuke's array knobs do."""

    def __init__(self, name: str, label: str = ""):
        super().__init__(name, label, [0.0, 0.0])
        self._index_keys: dict[int, dict[float, float]] = {0: {}, 1: {}}

    def setValueAt(self, value: float, time: float, index: int = 0) -> bool:
        self._index_keys[int(index)][float(time)] = float(value)
        return True

    def isAnimated(self) -> bool:
        return any(self._index_keys.values())

    def valueAt(self, time: float, index: int = 0) -> object:
        keys = self._index_keys[int(index)]
        if not keys:
            return self.value()[index]
        times = sorted(keys)
        time = min(max(float(time), times[0]), times[-1])
        after = next(t for t in times if t >= time)
        before = max(t for t in times if t <= time)
        if after == before:
            return keys[after]
        return keys[before] + (keys[after] - keys[before]) * (time - before) / (after - before)


class Text_Knob(Knob):
    def __init__(self, name: str, label: str = "", text: str = ""):
        super().__init__(name, label, text)


_TCL_COMMAND = re.compile(r"\[([^\[\]]*)\]")
_TCL_VARIABLE = re.compile(r"\$(\w+)")


def _evaluate_tcl(text: str) -> str:
    """What Nuke's TCL substitution does to a string knob's text, for the few commands this fake knows."""
    def command(match: re.Match) -> str:
        words = match.group(1).split()
        if words[:1] == ["frame"]:
            return "1"
        raise RuntimeError(f'invalid command name "{words[0] if words else ""}"')

    def variable(match: re.Match) -> str:
        raise RuntimeError(f'can\'t read "{match.group(1)}": no such variable')

    return _TCL_VARIABLE.sub(variable, _TCL_COMMAND.sub(command, text))


class String_Knob(Knob):
    """``value()`` is the evaluated text (TCL brackets and dollars substituted), ``getText()`` the raw text."""

    def __init__(self, name: str, label: str = "", text: str = ""):
        super().__init__(name, label, text)

    def _convert(self, value: object) -> object:
        return str(value)

    def value(self) -> object:
        return _evaluate_tcl(str(self._value))

    def getText(self) -> str:
        return str(self._value)

    def setText(self, text: str) -> None:
        self._value = str(text)


class Multiline_Eval_String_Knob(String_Knob):
    pass


class File_Knob(String_Knob):
    """``value()`` normalises ``####`` to ``%04d`` as Nuke does; ``fromUserText`` parses a range and reads the format."""

    node: "Node | None" = None

    def value(self) -> object:
        return re.sub(r"#+", lambda match: f"%0{len(match.group())}d", super().value())

    def fromUserText(self, text: str) -> None:
        match = re.match(r"^(.*?)\s+(-?\d+)-(-?\d+)$", str(text))
        path, first, last = (match.group(1), int(match.group(2)), int(match.group(3))) if match else (str(text), None, None)
        self.setValue(path)
        node = self.node
        if node is None or node.Class() != "Read" or first is None:
            return
        for name, number in (("first", first), ("last", last), ("origfirst", first), ("origlast", last)):
            node[name].setValue(number)
        import OpenEXR

        with OpenEXR.File(_expand(self.value(), first, "main"), header_only=True) as image:
            (x0, y0), (x1, y1) = image.header()["dataWindow"]
        node._read_format = Format(int(x1 - x0 + 1), int(y1 - y0 + 1))


class Enumeration_Knob(Knob):
    def __init__(self, name: str, label: str = "", values: list[str] = ()):
        super().__init__(name, label, values[0] if values else "")
        self._values = list(values)

    def values(self) -> list[str]:
        return list(self._values)

    def _convert(self, value: object) -> object:
        if value not in self._values:
            raise ValueError(f"{value!r} is not a value of {self._name} ({self._values})")
        return value


class Double_Knob(Knob):
    def __init__(self, name: str, label: str = ""):
        super().__init__(name, label, 0.0)

    def _convert(self, value: object) -> object:
        return float(value)  # type: ignore[arg-type]


class Int_Knob(Knob):
    def __init__(self, name: str, label: str = ""):
        super().__init__(name, label, 0)

    def _convert(self, value: object) -> object:
        return int(value)  # type: ignore[arg-type]


class Boolean_Knob(Knob):
    def __init__(self, name: str, label: str = "", value: bool = False):
        super().__init__(name, label, bool(value))

    def _convert(self, value: object) -> object:
        return bool(value)


class ColorspaceKnob(Enumeration_Knob):
    """A Read's colorspace: as in Nuke, an unknown name is accepted and puts the node in error instead of raising."""

    node: "Node | None" = None

    def _convert(self, value: object) -> object:
        if value not in self._values and self.node is not None:
            self.node._error = f"colorspace {value!r} is not in the OCIO config"
        return value


class PyScript_Knob(Knob):
    def __init__(self, name: str, label: str = "", command: str = ""):
        super().__init__(name, label, command)


class Help_Knob(Knob):
    def __init__(self, name: str, label: str = "", text: str = ""):
        super().__init__(name, label, text)


class _TileColorKnob(Knob):
    """``tile_color``: an unsigned 0xRRGGBBAA colour."""

    def _convert(self, value: object) -> object:
        return int(value)  # type: ignore[arg-type]


# ---- nodes -------------------------------------------------------------------------------------


class Format:
    def __init__(self, width: int, height: int):
        self._width, self._height = width, height

    def width(self) -> int:
        return self._width

    def height(self) -> int:
        return self._height


_COMPRESSIONS = ["none", "Zip (1 scanline)", "Zip (16 scanlines)", "RLE", "PIZ Wavelet (32 scanlines)", "PXR24", "B44",
                 "B44A", "DWAA", "DWAB"]
colorspaces: list[str] = ["default", "linear", "sRGB", "rec709", "Gamma2.2"]  # the OCIO config's spaces (nuke-default)


class _FileTypeKnob(Enumeration_Knob):
    """A Write's file_type: as in Nuke, the format's own knobs (EXR: datatype, compression) appear once it is set."""

    def __init__(self):
        super().__init__("file_type", "file type", [" ", "exr", "png", "tiff"])
        self.owner: Node | None = None

    def setValue(self, value: object) -> bool:
        super().setValue(value)
        if value == "exr" and self.owner is not None:
            self.owner.addKnob(Enumeration_Knob("datatype", "datatype", ["16 bit half", "32 bit float"]))
            self.owner.addKnob(Enumeration_Knob("compression", "compression", _COMPRESSIONS))
        return True


_GROUP_CLASSES = ("Group", "Root", "Gizmo")


def _standard_knobs(node_class: str) -> list[Knob]:
    knobs: list[Knob] = [String_Knob("label", "label"), _TileColorKnob("tile_color", "tile color", 0),
                         File_Knob("icon", "icon")]
    if node_class == "Read":
        knobs += [File_Knob("file", "file"), Int_Knob("first"), Int_Knob("last"), Int_Knob("origfirst"),
                  Int_Knob("origlast"), ColorspaceKnob("colorspace", "colorspace", list(colorspaces)),
                  Boolean_Knob("raw"), Enumeration_Knob("on_error", "missing frames", ["error", "black", "checkerboard", "nearest frame"])]
    elif node_class == "Write":
        knobs += [File_Knob("file", "file"), _FileTypeKnob(), String_Knob("views", "views", ""),
                  String_Knob("channels", "channels", "rgb"), Boolean_Knob("raw"), Boolean_Knob("create_directories"),
                  Boolean_Knob("use_limit"), Int_Knob("first"), Int_Knob("last")]
    elif node_class == "CornerPin2D":
        knobs += [XY_Knob(f"{kind}{index}", f"{kind}{index}") for kind in ("to", "from") for index in range(1, 5)]
    elif node_class == "Remove":
        knobs += [Enumeration_Knob("operation", "operation", ["remove", "keep"]), String_Knob("channels", "", "none"),
                  String_Knob("channels2", "", "none"), String_Knob("channels3", "", "none"), String_Knob("channels4", "", "none")]
    elif node_class == "Switch":
        knobs += [Int_Knob("which", "which")]
    elif node_class == "Input":
        knobs += [Int_Knob("number", "number")]
    elif node_class == "Group":
        knobs += [String_Knob("help", "help")]
    return knobs


class Node:
    def __init__(self, node_class: str, name: str | None = None, parent: "Node | None" = None):
        self._deleted = False
        self._class = node_class
        self._parent = parent
        self._children: dict[str, Node] = {}
        self._name = _unique_name(name or f"{node_class}1", parent)
        self._knobs: dict[str, Knob] = {}
        for knob in _standard_knobs(node_class):
            self.addKnob(knob)
        if node_class == "Write":
            self._knobs["file_type"].owner = self
        self._inputs: dict[int, Node] = {}
        self._x, self._y = 0, 0
        self._frames: dict[str, dict[int, dict[str, Any]]] = {}  # view -> frame -> planes
        self._range = (1, 1)
        self._format = Format(0, 0)
        self._read_format: Format | None = None
        self._error = ""
        self.panel_shown = False

    def __getattribute__(self, name: str):
        if not name.startswith("_") and object.__getattribute__(self, "_deleted"):
            raise ValueError("A PythonObject is not attached to a node")
        return object.__getattribute__(self, name)

    # documented Node API
    def Class(self) -> str:
        return self._class

    def name(self) -> str:
        return self._name

    def fullName(self) -> str:
        parts = []
        node: Node | None = self
        while node is not None and node is not _root:
            parts.append(node._name)
            node = node._parent
        return ".".join(reversed(parts))

    def setName(self, name: str, uncollide: bool = True, updateExpressions: bool = False) -> None:
        siblings = self._parent._children if self._parent is not None else {}
        siblings.pop(self._name, None)
        if name in siblings and not uncollide:
            raise ValueError(f"name {name!r} is already in use")
        self._name = _unique_name(name, self._parent)
        siblings[self._name] = self

    def knob(self, name: str) -> Knob | None:
        return self._knobs.get(name)

    def __getitem__(self, name: str) -> Knob:
        if name not in self._knobs:
            raise NameError(f"knob {name} does not exist")
        return self._knobs[name]

    def knobs(self) -> dict[str, Knob]:
        return dict(self._knobs)

    def addKnob(self, knob: Knob) -> None:
        if isinstance(knob, (File_Knob, ColorspaceKnob)):
            knob.node = self
        self._knobs[knob.name()] = knob

    def removeKnob(self, knob: Knob) -> None:
        self._knobs.pop(knob.name(), None)

    def input(self, index: int) -> Node | None:
        return self._inputs.get(index)

    def inputs(self) -> int:
        return max(self._inputs, default=-1) + 1

    def setInput(self, index: int, node: Node | None) -> bool:
        if node is None:
            self._inputs.pop(index, None)
        else:
            self._inputs[index] = node
        return True

    def hasError(self) -> bool:
        return bool(self._error)

    def channels(self) -> list[str]:
        return list(self._pixels(self.firstFrame()))

    def _upstream(self) -> Node | None:
        """The node whose image this node passes on (for range and format)."""
        if self._class in _GROUP_CLASSES:
            return next((child for child in self._children.values() if child._class == "Output"), None)
        if self._class == "Input":
            return self._parent.input(int(self["number"].value())) if self._parent is not None else None
        if self._class == "Switch":
            return self.input(int(self["which"].value()))
        return self.input(0)

    def _is_source(self) -> bool:
        return bool(self._frames) or (self._class == "Read" and bool(self["file"].getText()))

    def firstFrame(self) -> int:
        if self._class == "Read" and not self._frames and self["file"].getText():
            return int(self["first"].value())
        upstream = self._upstream()
        return upstream.firstFrame() if upstream is not None and not self._is_source() else self._range[0]

    def lastFrame(self) -> int:
        if self._class == "Read" and not self._frames and self["file"].getText():
            return int(self["last"].value())
        upstream = self._upstream()
        return upstream.lastFrame() if upstream is not None and not self._is_source() else self._range[1]

    def format(self) -> Format:
        if self._class == "Read" and not self._frames:
            return self._read_format or _root_format
        upstream = self._upstream()
        return upstream.format() if upstream is not None and not self._is_source() else self._format

    def xpos(self) -> int:
        return self._x

    def ypos(self) -> int:
        return self._y

    def setXYpos(self, x: int, y: int) -> None:
        self._x, self._y = int(x), int(y)

    def screenWidth(self) -> int:
        return 80

    def showControlPanel(self) -> None:
        self.panel_shown = True

    # Group API
    def begin(self) -> Node:
        _group_stack.append(self)
        return self

    def end(self) -> None:
        _group_stack.remove(self)

    def __enter__(self) -> Node:
        return self.begin()

    def __exit__(self, *exc_info) -> None:
        self.end()

    def nodes(self) -> list[Node]:
        return list(self._children.values())

    def node(self, name: str) -> Node | None:
        return self._children.get(name)

    @property
    def children(self) -> list[Node]:
        """Test helper (not Nuke API): the nodes inside this group, in creation order."""
        return list(self._children.values())

    # image flow of this fake
    def _pixels(self, frame: int, view: str = "main") -> dict[str, Any]:
        if self._frames:
            return (self._frames.get(view) or next(iter(self._frames.values()))).get(frame, {})
        if self._class == "Read":
            return _read_exr(self, frame, view)
        upstream = self._upstream()
        if upstream is None:
            return {}
        planes = upstream._pixels(frame, view)
        if self._class == "Remove":
            layers = {self[name].value() for name in ("channels", "channels2", "channels3", "channels4")} - {"none"}
            keep = self["operation"].value() == "keep"
            return {name: plane for name, plane in planes.items() if (name.split(".")[0] in layers) == keep}
        return planes


_EXR_NAMES = {"rgba.red": "R", "rgba.green": "G", "rgba.blue": "B", "rgba.alpha": "A"}
_NUKE_NAMES = {exr: nuke_name for nuke_name, exr in _EXR_NAMES.items()}


def _expand(pattern: str, frame: int, view: str) -> str:
    """A file knob's value for one frame and view: %04d / #### and %V substituted."""
    path = re.sub(r"%0?(\d*)d", lambda match: f"{frame:0{match.group(1) or 1}d}", pattern)
    path = re.sub(r"#+", lambda match: f"{frame:0{len(match.group())}d}", path)
    return path.replace("%V", view)


def _read_exr(read: Node, frame: int, view: str) -> dict[str, Any]:
    import numpy as np
    import OpenEXR

    pattern = read["file"].value()
    path = Path(_expand(pattern, frame, view)) if pattern else None
    if path is None or not path.exists():
        return {}
    with OpenEXR.File(os.fspath(path), separate_channels=True) as image:
        channels = image.channels()
        return {_NUKE_NAMES.get(name, name): np.asarray(channel.pixels, dtype=np.float32) for name, channel in channels.items()}


def _context() -> Node:
    return _group_stack[-1] if _group_stack else _root


def _unique_name(name: str, parent: Node | None) -> str:
    siblings = parent._children if parent is not None else {}
    base = re.sub(r"\d+$", "", name) or name
    candidate, number = name, 1
    while candidate in siblings:
        number += 1
        candidate = f"{base}{number}"
    return candidate


def _register(node: Node, undoable: bool = True) -> Node:
    node._parent._children[node.name()] = node
    if node._class == "Input":
        node["number"].setValue(sum(child._class == "Input" for child in node._parent._children.values()) - 1)
    if undoable and not Undo._disabled:
        (Undo._open if Undo._open is not None else undo_steps.append([]) or undo_steps[-1]).append(f"create {node.fullName()}")
    return node


class _NodeConstructors:
    """``nuke.nodes.<Class>(**knobs, inputs=[...])``: creates a node in the current group context, not connected to the selection."""

    def __getattr__(self, node_class: str):
        def construct(inputs: list[Node] = (), name: str | None = None, **knob_values: object) -> Node:
            node = _register(Node(node_class, name, _context()))
            for index, upstream in enumerate(inputs):
                node.setInput(index, upstream)
            for knob_name, value in knob_values.items():
                node[knob_name].setValue(value)
            return node

        return construct


nodes = _NodeConstructors()


def make_image_node(name: str, frames: dict[int, dict[str, Any]], views: dict[str, dict] | None = None) -> Node:
    """Test helper (not Nuke API): a Read-like node whose output is the given per-frame channel planes (per view)."""
    node = _register(Node("Read", name, _context()), undoable=False)
    per_view = views or {"main": frames}
    node._frames = {view: {int(n): dict(planes) for n, planes in view_frames.items()} for view, view_frames in per_view.items()}
    first_view = next(iter(node._frames.values()))
    numbers = sorted(first_view)
    node._range = (numbers[0], numbers[-1])
    height, width = next(iter(first_view[numbers[0]].values())).shape
    node._format = Format(width, height)
    return node


# ---- functions ---------------------------------------------------------------------------------


plugin_path: list[str] = []
script_views: list[str] = ["main"]
undo_steps: list[list[str]] = []  # each entry: the actions one Edit > Undo would revert


def pluginPath() -> list[str]:
    return list(plugin_path)


def views() -> list[str]:
    return list(script_views)


def toNode(name: str) -> Node | None:
    """A node by name, relative to the current group context (``root.`` or a dotted path from it)."""
    parts = name.split(".")
    node = _root if parts[0] == "root" else _context()
    for part in parts[1:] if parts[0] == "root" else parts:
        node = node._children.get(part)
        if node is None:
            return None
    return node


def allNodes(filter: str | None = None, group: Node | None = None) -> list[Node]:
    return [node for node in (group or _context())._children.values() if filter is None or node.Class() == filter]


def selectedNode() -> Node:
    if not _selected:
        raise ValueError("no node selected")
    return _selected[-1]


def selectedNodes() -> list[Node]:
    return list(_selected)


def select(node: Node) -> None:
    """Test helper (not Nuke API): select one node."""
    _selected[:] = [node]


def delete(node: Node) -> None:
    node._parent._children.pop(node.name(), None)
    deleted.append(node.name())
    if not Undo._disabled:
        (Undo._open if Undo._open is not None else undo_steps.append([]) or undo_steps[-1]).append(f"delete {node.name()}")
    node._deleted = True


script_loaders: dict[str, object] = {}  # test helper: path -> a callable that makes the nodes a .nk would hold
saved_as: list[str] = []


def scriptOpen(path: str) -> None:
    """Open a script: here, run the test's loader registered for that path."""
    if path not in script_loaders:
        raise RuntimeError(f"{path}: No such file or directory")
    _root["name"].setValue(path)
    script_loaders[path]()


def scriptSaveAs(path: str, overwrite: int = -1) -> None:
    saved_as.append(path)


def scriptClose() -> None:
    """Close the script: every node is deleted (the Root stays, as a new empty script)."""
    for node in list(_root._children.values()):
        node._parent._children.pop(node.name(), None)
        node._deleted = True


_root = Node("Root", "root")
_root_format = Format(1920, 1080)
for _knob in (Double_Knob("fps"), File_Knob("name"), Boolean_Knob("proxy"),
              Enumeration_Knob("colorManagement", "color management", ["Nuke", "OCIO"]),
              Enumeration_Knob("OCIO_config", "OCIO config", ["nuke-default", "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1",
                                                              "aces_1.2", "custom"]),
              File_Knob("customOCIOConfigPath"), Enumeration_Knob("workingSpaceLUT", "working space", ["linear", "sRGB", "ACEScg", "ACES - ACEScg", "scene_linear"])):
    _root.addKnob(_knob)
_root["fps"].setValue(24.0)


def root() -> Node:
    return _root


def thisNode() -> Node | None:
    return _this_node


def thisKnob() -> Knob | None:
    return _this_knob


def thisGroup() -> Node:
    return _context()


def press(node: Node, knob_name: str) -> None:
    """Test helper: click a PyScript button as Nuke does, with the node as thisNode and its group as the context."""
    global _this_node, _this_knob
    command = node[knob_name].value()
    saved = _this_node, _this_knob
    _this_node, _this_knob = node, node[knob_name]
    context = node if node.Class() in _GROUP_CLASSES else None
    if context is not None:
        context.begin()
    try:
        exec(compile(command, f"<{node.name()}.{knob_name}>", "exec"), {"nuke": sys.modules[__name__]})
    finally:
        if context is not None and context in _group_stack:
            context.end()
        _this_node, _this_knob = saved


def change_knob(node: Node, knob_name: str, value: object) -> None:
    """Test helper: set a knob from the panel; knobChanged callbacks run with the node's group as the context."""
    global _this_node, _this_knob
    node[knob_name].setValue(value)
    saved = _this_node, _this_knob
    _this_node, _this_knob = node, node[knob_name]
    context = node if node.Class() in _GROUP_CLASSES else None
    if context is not None:
        context.begin()
    try:
        for call, node_class in callbacks["knobChanged"]:
            if node_class in ("*", node.Class()):
                call()
    finally:
        if context is not None and context in _group_stack:
            context.end()
        _this_node, _this_knob = saved


def message(text: str) -> None:
    messages.append(text)


def executeInMainThread(call, args=(), kwargs=None) -> None:
    """Queued: Nuke runs it later, from its event loop; see :func:`run_main_thread`."""
    if not isinstance(args, tuple):
        args = (args,)
    _main_thread_queue.append((call, args, dict(kwargs or {})))


def run_main_thread(limit: int = 100) -> int:
    """Test helper: the event loop runs the queued main-thread calls (and those they queue); returns how many ran."""
    ran = 0
    while _main_thread_queue and ran < limit:
        call, args, kwargs = _main_thread_queue.pop(0)
        call(*args, **kwargs)
        ran += 1
    return ran


def addOnCreate(call, args=(), kwargs=None, nodeClass: str = "*") -> None:
    callbacks["onCreate"].append((call, nodeClass))


def addKnobChanged(call, args=(), kwargs=None, nodeClass: str = "*") -> None:
    callbacks["knobChanged"].append((call, nodeClass))


class Undo:
    """Undo groups: actions between ``begin`` and ``end`` are one step; ``disable`` keeps actions out of the history."""

    _open: list[str] | None = None
    _name = ""
    _disabled = 0

    def __init__(self, name: str | None = None):
        self._enter_name = name

    @classmethod
    def begin(cls, name: str | None = None) -> None:
        if cls._open is not None:
            raise RuntimeError("an undo group is already open")
        cls._open, cls._name = [], name or ""

    @classmethod
    def name(cls, name: str) -> None:
        cls._name = name

    @classmethod
    def end(cls) -> None:
        if cls._open:
            undo_steps.append([f"step {cls._name}", *cls._open])
        cls._open = None

    @classmethod
    def cancel(cls) -> None:
        cls._open = None

    @classmethod
    def disable(cls) -> None:
        cls._disabled += 1

    @classmethod
    def enable(cls) -> None:
        cls._disabled -= 1

    @classmethod
    def disabled(cls) -> bool:
        return cls._disabled > 0

    def __enter__(self) -> Undo:
        self.begin(self._enter_name)
        return self

    def __exit__(self, *exc_info) -> None:
        self.end()


class ProgressTask:
    def __init__(self, name: str):
        self.name = name
        self.progress = 0
        self.message = ""
        progress_tasks.append(self)

    def setMessage(self, text: str) -> None:
        self.message = text

    def setProgress(self, value: int) -> None:
        self.progress = int(value)

    def isCancelled(self) -> bool:
        return cancel_at_progress is not None and self.progress >= cancel_at_progress


class Menu:
    def __init__(self, name: str):
        self.name = name
        self.items: dict[str, object] = {}
        self.icons: dict[str, str] = {}

    def addMenu(self, name: str, icon: str = "") -> Menu:
        self.icons[name] = icon
        return self.items.setdefault(name, Menu(name))  # type: ignore[return-value]

    def addCommand(self, name: str, command: object = None, shortcut: str = "", icon: str = "", tooltip: str = "") -> None:
        self.items[name] = command
        self.icons[name] = icon


def menu(name: str) -> Menu:
    return menus.setdefault(name, Menu(name))


def execute(node: Node | str, start: int | None = None, end: int | None = None, incr: int = 1) -> None:
    """Render a Write node's input for frames start..end and each of its views, as float EXRs named the way Nuke names channels.

    As in Nuke: an empty ``views`` knob renders every view of the script, into the same
    file unless the name has ``%V``; in proxy mode the image is rendered at half size.
    """
    import numpy as np
    import OpenEXR

    write = toNode(node) if isinstance(node, str) else node
    if write is None or write.Class() != "Write":
        raise RuntimeError("execute needs a Write node")
    if write["file_type"].value() != "exr" or write["datatype"].value() != "32 bit float":
        raise RuntimeError("this fake writes 32-bit float EXR only")
    executed.append((write.name(), int(start), int(end), int(incr)))
    pattern = write["file"].value()
    chosen = write["views"].value().split() or list(script_views)
    for frame in range(int(start), int(end) + 1, int(incr)):
        for view in chosen:
            planes = write._pixels(frame, view)
            wanted = write["channels"].value()
            if wanted != "all":
                planes = {name: plane for name, plane in planes.items() if name.split(".")[0] == wanted}
            if _root["proxy"].value():
                planes = {name: plane[::2, ::2] for name, plane in planes.items()}
            path = Path(_expand(pattern, frame, view))
            if write["create_directories"].value():
                path.parent.mkdir(parents=True, exist_ok=True)
            channels = {_EXR_NAMES.get(name, name): np.ascontiguousarray(plane, dtype=np.float32) for name, plane in planes.items()}
            header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
            OpenEXR.File(header, channels).write(os.fspath(path))
