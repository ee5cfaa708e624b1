"""A tiny stand-in for Nuke's ``nuke`` module, for testing the plugin's thin layer outside Nuke.

It follows the names of Nuke's documented Python API (``nuke.nodes.Write``,
``nuke.execute``, ``Knob.setValue``/``value``/``isAnimated``/``valueAt``/
``setValueAt``, ``Node.channels``/``setInput``/``setXYpos``, ``nuke.ProgressTask``,
``nuke.executeInMainThread``, ``nuke.addOnCreate``, ``nuke.menu``, ...) and
models only what the plugin uses. Images flow for real: a source node made with
:func:`make_image_node` holds per-frame channel planes (``rgba.red``, ``depth.Z``),
Remove and Write nodes filter them, and ``execute`` writes float EXRs the way
Nuke names channels (``R, G, B, A`` for rgba, ``layer.channel`` otherwise).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

GUI = False
STARTLINE = 0x1000

messages: list[str] = []
executed: list[tuple[str, int, int, int]] = []
deleted: list[str] = []
callbacks: dict[str, list[tuple[object, str]]] = {"onCreate": [], "knobChanged": []}
menus: dict[str, "Menu"] = {}
progress_tasks: list["ProgressTask"] = []
cancel_at_progress: int | None = None  # a ProgressTask reports cancelled once its progress reaches this

_nodes: dict[str, "Node"] = {}
_selected: list["Node"] = []
_this_node: "Node | None" = None
_this_knob: "Knob | None" = None
_group_stack: list["Node"] = []


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


class Text_Knob(Knob):
    def __init__(self, name: str, label: str = "", text: str = ""):
        super().__init__(name, label, text)


class String_Knob(Knob):
    def __init__(self, name: str, label: str = "", text: str = ""):
        super().__init__(name, label, text)

    def _convert(self, value: object) -> object:
        return str(value)


class Multiline_Eval_String_Knob(String_Knob):
    pass


class File_Knob(String_Knob):
    pass


class Enumeration_Knob(Knob):
    def __init__(self, name: str, label: str, values: list[str]):
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


class PyScript_Knob(Knob):
    def __init__(self, name: str, label: str = "", command: str = ""):
        super().__init__(name, label, command)


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


def _standard_knobs(node_class: str) -> list[Knob]:
    knobs: list[Knob] = [String_Knob("label", "label")]
    if node_class == "Read":
        knobs += [File_Knob("file", "file"), Int_Knob("first"), Int_Knob("last"), Int_Knob("origfirst"),
                  Int_Knob("origlast"), Enumeration_Knob("colorspace", "colorspace", ["default", "linear", "sRGB", "rec709"]),
                  Boolean_Knob("raw"), Enumeration_Knob("on_error", "missing frames", ["error", "black", "checkerboard", "nearest frame"])]
    elif node_class == "Write":
        knobs += [File_Knob("file", "file"), _FileTypeKnob(),
                  String_Knob("channels", "channels", "rgb"), Boolean_Knob("raw"), Boolean_Knob("create_directories"),
                  Boolean_Knob("use_limit"), Int_Knob("first"), Int_Knob("last")]
    elif node_class == "Remove":
        knobs += [Enumeration_Knob("operation", "operation", ["remove", "keep"]), String_Knob("channels", "", "none"),
                  String_Knob("channels2", "", "none"), String_Knob("channels3", "", "none"), String_Knob("channels4", "", "none")]
    return knobs


class Node:
    def __init__(self, node_class: str, name: str | None = None):
        self._class = node_class
        self._name = _unique_name(name or f"{node_class}1")
        self._knobs: dict[str, Knob] = {knob.name(): knob for knob in _standard_knobs(node_class)}
        if node_class == "Write":
            self._knobs["file_type"].owner = self
        self._inputs: dict[int, Node] = {}
        self._x, self._y = 0, 0
        self._frames: dict[int, dict[str, np.ndarray]] = {}
        self._range = (1, 1)
        self._format = Format(0, 0)
        self.children: list[Node] = []
        self.panel_shown = False

    # documented Node API
    def Class(self) -> str:
        return self._class

    def name(self) -> str:
        return self._name

    def setName(self, name: str, uncollide: bool = True, updateExpressions: bool = False) -> None:
        _nodes.pop(self._name, None)
        if name in _nodes and not uncollide:
            raise ValueError(f"name {name!r} is already in use")
        self._name = _unique_name(name)
        _nodes[self._name] = self

    def knob(self, name: str) -> Knob | None:
        return self._knobs.get(name)

    def __getitem__(self, name: str) -> Knob:
        return self._knobs[name]

    def knobs(self) -> dict[str, Knob]:
        return dict(self._knobs)

    def addKnob(self, knob: Knob) -> None:
        self._knobs[knob.name()] = knob

    def input(self, index: int) -> Node | None:
        return self._inputs.get(index)

    def setInput(self, index: int, node: Node | None) -> bool:
        if node is None:
            self._inputs.pop(index, None)
        else:
            self._inputs[index] = node
        return True

    def channels(self) -> list[str]:
        return list(self._pixels(self.firstFrame()))

    def firstFrame(self) -> int:
        upstream = self.input(0)
        return upstream.firstFrame() if upstream is not None and not self._frames else self._range[0]

    def lastFrame(self) -> int:
        upstream = self.input(0)
        return upstream.lastFrame() if upstream is not None and not self._frames else self._range[1]

    def format(self) -> Format:
        upstream = self.input(0)
        return upstream.format() if upstream is not None and not self._frames else self._format

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

    def begin(self) -> None:
        _group_stack.append(self)

    def end(self) -> None:
        _group_stack.remove(self)

    # image flow of this fake
    def _pixels(self, frame: int) -> dict[str, np.ndarray]:
        if self._frames:
            return self._frames.get(frame, {})
        upstream = self.input(0)
        if upstream is None:
            return {}
        planes = upstream._pixels(frame)
        if self._class == "Remove":
            layers = {self[name].value() for name in ("channels", "channels2", "channels3", "channels4")} - {"none"}
            keep = self["operation"].value() == "keep"
            return {name: plane for name, plane in planes.items() if (name.split(".")[0] in layers) == keep}
        return planes


def _unique_name(name: str) -> str:
    base = re.sub(r"\d+$", "", name) or name
    candidate, number = name, 1
    while candidate in _nodes:
        number += 1
        candidate = f"{base}{number}"
    return candidate


def _register(node: Node) -> Node:
    if _group_stack:
        _group_stack[-1].children.append(node)
    else:
        _nodes[node.name()] = node
    return node


class _NodeConstructors:
    """``nuke.nodes.<Class>(**knobs, inputs=[...])``: creates a node without connecting it to the selection."""

    def __getattr__(self, node_class: str):
        def construct(inputs: list[Node] = (), name: str | None = None, **knob_values: object) -> Node:
            node = _register(Node(node_class, name))
            for index, upstream in enumerate(inputs):
                node.setInput(index, upstream)
            for knob_name, value in knob_values.items():
                node[knob_name].setValue(value)
            return node

        return construct


nodes = _NodeConstructors()


def make_image_node(name: str, frames: dict[int, dict[str, np.ndarray]]) -> Node:
    """Test helper (not Nuke API): a Read-like node whose output is the given per-frame channel planes."""
    node = _register(Node("Read", name))
    node._frames = {int(n): dict(planes) for n, planes in frames.items()}
    numbers = sorted(node._frames)
    node._range = (numbers[0], numbers[-1])
    height, width = next(iter(node._frames[numbers[0]].values())).shape
    node._format = Format(width, height)
    return node


# ---- functions ---------------------------------------------------------------------------------


plugin_path: list[str] = []


def pluginPath() -> list[str]:
    return list(plugin_path)


def toNode(name: str) -> Node | None:
    return _nodes.get(name)


def allNodes(filter: str | None = None) -> list[Node]:
    return [node for node in _nodes.values() if filter is None or node.Class() == filter]


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
    _nodes.pop(node.name(), None)
    deleted.append(node.name())


_root = Node("Root", "root")

_root._knobs.update({"fps": Double_Knob("fps"), "name": File_Knob("name")})
_root["fps"].setValue(24.0)


def root() -> Node:
    return _root


def thisNode() -> Node | None:
    return _this_node


def thisKnob() -> Knob | None:
    return _this_knob


def message(text: str) -> None:
    messages.append(text)


def executeInMainThread(call, args=(), kwargs=None) -> None:
    call(*args, **(kwargs or {}))


def addOnCreate(call, args=(), kwargs=None, nodeClass: str = "*") -> None:
    callbacks["onCreate"].append((call, nodeClass))


def addKnobChanged(call, args=(), kwargs=None, nodeClass: str = "*") -> None:
    callbacks["knobChanged"].append((call, nodeClass))


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

    def addMenu(self, name: str, icon: str = "") -> Menu:
        return self.items.setdefault(name, Menu(name))  # type: ignore[return-value]

    def addCommand(self, name: str, command: object = None, shortcut: str = "", icon: str = "") -> None:
        self.items[name] = command


def menu(name: str) -> Menu:
    return menus.setdefault(name, Menu(name))


_EXR_NAMES = {"rgba.red": "R", "rgba.green": "G", "rgba.blue": "B", "rgba.alpha": "A"}


def execute(node: Node | str, start: int | None = None, end: int | None = None, incr: int = 1) -> None:
    """Render a Write node's input to its file for frames start..end, as float EXRs named the way Nuke names channels."""
    import OpenEXR

    write = toNode(node) if isinstance(node, str) else node
    if write is None or write.Class() != "Write":
        raise RuntimeError("execute needs a Write node")
    if write["file_type"].value() != "exr" or write["datatype"].value() != "32 bit float":
        raise RuntimeError("this fake writes 32-bit float EXR only")
    executed.append((write.name(), int(start), int(end), int(incr)))
    pattern = write["file"].value()
    for frame in range(int(start), int(end) + 1, int(incr)):
        planes = write._pixels(frame)
        wanted = write["channels"].value()
        if wanted != "all":
            planes = {name: plane for name, plane in planes.items() if name.split(".")[0] == wanted}
        path = Path(re.sub(r"#+", lambda match: f"{frame:0{len(match.group())}d}", pattern))
        if write["create_directories"].value():
            path.parent.mkdir(parents=True, exist_ok=True)
        channels = {_EXR_NAMES.get(name, name): np.ascontiguousarray(plane, dtype=np.float32) for name, plane in planes.items()}
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, channels).write(os.fspath(path))
