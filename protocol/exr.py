"""Read and write EXR frames (single- and multi-part, half or float) as canonical buffers.

Files are untrusted: the header is read and bounded first (image size, part and
channel counts, decoded bytes, subsampling, deep data), pixels are read with
``separate_channels=True``, and every failure of the OpenEXR library surfaces as
:class:`ExrError` naming the file. Arrays are rows top to bottom, as numpy holds
images; pixels outside the data window are zero. The OpenEXR bindings are
imported inside functions, so this module imports without them.

Writing: :func:`write_exr` lays buffers out the way Nuke reads layers
(``beauty`` -> ``R, G, B, A``, ``depth`` -> ``depth.Z``, ``normal`` ->
``normal.X/Y/Z``, motion -> ``backward.u/v``, ``forward.u/v`` with v up, ids ->
``object_index.X``; any other buffer -> ``<name>.Y`` or ``<name>.R/G/B/A``) and
replaces the target atomically. EXR has no 8- or 16-bit integer type: uint8 and
uint16 buffers are stored as half floats in 0..1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import passes
from .buffers import Limits
from .camera_metadata import STANDARD_ATTRIBUTE, camera_from_headers, standard_attribute
from .channels import CRYPTOMATTE, BufferSource, find_buffers, split_channel
from .errors import ExrError, FrameTooLarge
from .files import atomic_path

__all__ = ["ExrInfo", "COMPRESSIONS", "assemble_buffer", "read_info", "read_channels", "read_frame", "read_layers", "write_exr"]

COMPRESSIONS = ("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab")
_COMPONENT_ORDER = {name: rank for rank, name in enumerate(("r", "red", "g", "green", "b", "blue", "a", "alpha", "x", "y", "z", "w", "u", "v"))}


@dataclass(frozen=True)
class ExrInfo:
    """What an EXR header says: display size and every channel name, across all parts."""

    width: int
    height: int
    channels: tuple[str, ...]
    parts: int


def _openexr():
    try:
        import OpenEXR
    except ImportError as error:
        raise ExrError("the OpenEXR python bindings are not installed", fix="pip install 'openexr>=3.2'") from error
    return OpenEXR


def _window(header: Mapping[str, Any], key: str, path: Path) -> tuple[int, int, int, int]:
    try:
        (xmin, ymin), (xmax, ymax) = header[key]
        return int(xmin), int(ymin), int(xmax), int(ymax)
    except (KeyError, TypeError, ValueError) as error:
        raise ExrError(f"{path}: header has no valid {key}") from error


def _check_size(path: Path, what: str, window: tuple[int, int, int, int], limits: Limits) -> tuple[int, int]:
    xmin, ymin, xmax, ymax = window
    width, height = xmax - xmin + 1, ymax - ymin + 1
    if width < 1 or height < 1:
        raise ExrError(f"{path}: {what} is empty ({width}x{height})")
    if width > limits.max_width or height > limits.max_height:
        raise FrameTooLarge(
            f"{path}: {what} is {width}x{height}; the limit is {limits.max_width}x{limits.max_height}",
            details={"path": str(path), "width": width, "height": height},
        )
    return width, height


def _headers(path: Path, limits: Limits) -> list[Any]:
    OpenEXR = _openexr()
    if not path.is_file():
        raise ExrError(f"{path}: no such file")
    try:
        parts = list(OpenEXR.File(str(path), header_only=True).parts)
    except Exception as error:  # the bindings raise bare RuntimeError/ValueError on bad files
        raise ExrError(f"{path}: not a readable EXR header ({error})") from error
    max_channels = limits.max_buffers * limits.max_channels
    if not parts or len(parts) > max_channels:
        raise ExrError(f"{path}: has {len(parts)} parts; 1..{max_channels} are allowed")
    total_channels = 0
    decoded_bytes = 0
    for part in parts:
        header = part.header
        storage = str(header.get("type", ""))
        if "deep" in storage:
            raise ExrError(f"{path}: deep EXR parts are not supported", fix="flatten the image (Nuke: DeepToImage) before sending it")
        data_window, display_window = _window(header, "dataWindow", path), _window(header, "displayWindow", path)
        data_width, data_height = _check_size(path, "data window", data_window, limits)
        display_width, display_height = _check_size(path, "display window", display_window, limits)
        channels = header.get("channels") or []
        total_channels += len(channels)
        if total_channels > max_channels:
            raise ExrError(f"{path}: has more than {max_channels} channels")
        for channel in channels:
            if channel.xSampling != 1 or channel.ySampling != 1:
                raise ExrError(f"{path}: channel {channel.name!r} is subsampled; only full-resolution channels are supported")
        # Each channel is read at its data window, then placed into a float32 plane of the display window.
        placed = display_width * display_height if data_window != display_window else 0
        decoded_bytes += (data_width * data_height + placed) * 4 * len(channels)
    if decoded_bytes > limits.max_message_bytes:
        raise FrameTooLarge(f"{path}: decodes to {decoded_bytes} bytes (data and display windows); "
                            f"the limit is {limits.max_message_bytes}",
                            details={"path": str(path), "bytes": decoded_bytes})
    return parts


def read_info(path: str | os.PathLike[str], limits: Limits | None = None) -> ExrInfo:
    """Read and bound-check only the header."""
    path = Path(path)
    parts = _headers(path, limits or Limits())
    xmin, ymin, xmax, ymax = _window(parts[0].header, "displayWindow", path)
    names = tuple(channel.name for part in parts for channel in part.header.get("channels") or [])
    return ExrInfo(xmax - xmin + 1, ymax - ymin + 1, names, len(parts))


def read_channels(path: str | os.PathLike[str], limits: Limits | None = None) -> dict[str, np.ndarray]:
    """Every channel as a float32 (height, width) array over the first part's display window."""
    path = Path(path)
    return _read_channels(path, _headers(path, limits or Limits()))


def _read_channels(path: Path, headers: list[Any]) -> dict[str, np.ndarray]:
    display = _window(headers[0].header, "displayWindow", path)
    width, height = display[2] - display[0] + 1, display[3] - display[1] + 1
    OpenEXR = _openexr()
    try:
        parts = list(OpenEXR.File(str(path), separate_channels=True).parts)
    except Exception as error:
        raise ExrError(f"{path}: pixel data is truncated or corrupt ({error})") from error
    # On a truncated or corrupt chunk the bindings warn and return fewer parts or channels; never raise.
    if len(parts) != len(headers):
        raise ExrError(f"{path}: pixel data is truncated or corrupt ({len(parts)} of {len(headers)} parts decoded)")
    try:
        return _placed_channels(path, headers, parts, display, width, height)
    except MemoryError as error:
        raise FrameTooLarge(f"{path}: not enough memory to decode its {width}x{height} display window") from error


def _placed_channels(path: Path, headers: list[Any], parts: list[Any], display: tuple[int, int, int, int],
                     width: int, height: int) -> dict[str, np.ndarray]:
    channels: dict[str, np.ndarray] = {}
    for header, part in zip(headers, parts):
        data = _window(part.header, "dataWindow", path)
        declared = {channel.name for channel in header.header.get("channels") or []}
        decoded = {name for name, channel in part.channels.items() if channel.pixels is not None}
        if declared - decoded:
            raise ExrError(f"{path}: pixel data is truncated or corrupt (channels {sorted(declared - decoded)} not decoded)")
        for name, channel in part.channels.items():
            pixels = np.asarray(channel.pixels)
            if pixels.shape != (data[3] - data[1] + 1, data[2] - data[0] + 1):
                raise ExrError(f"{path}: channel {name!r} has {pixels.shape[::-1]} pixels, its data window says otherwise")
            channels.setdefault(name, _place(pixels, data, display, width, height))
    return channels


def _place(pixels: np.ndarray, data: tuple[int, int, int, int], display: tuple[int, int, int, int], width: int, height: int) -> np.ndarray:
    """Pixels of a data window inside a display-window-sized float32 array (zero outside)."""
    if data == display:
        return pixels.astype(np.float32, copy=False)
    out = np.zeros((height, width), dtype=np.float32)
    left, top = max(data[0], display[0]), max(data[1], display[1])
    right, bottom = min(data[2], display[2]), min(data[3], display[3])
    if left <= right and top <= bottom:
        out[top - display[1] : bottom - display[1] + 1, left - display[0] : right - display[0] + 1] = pixels[
            top - data[1] : bottom - data[1] + 1, left - data[0] : right - data[0] + 1
        ]
    return out


def assemble_buffer(source: BufferSource, channels: Mapping[str, np.ndarray]) -> np.ndarray:
    """One canonical buffer from the channel planes :func:`find_buffers` picked (signs applied, ids decoded)."""
    planes = [channels[name] for name in source.channels]
    if source.decode == CRYPTOMATTE:
        bits = np.ascontiguousarray(planes[0], dtype=np.float32).view(np.uint32)
        return (bits & 0xFFFFFF).astype(np.float32)
    if len(planes) == 1:
        return planes[0] * source.signs[0] if source.signs[0] != 1.0 else planes[0]
    return np.stack([plane * sign for plane, sign in zip(planes, source.signs)], axis=-1)


def read_frame(path: str | os.PathLike[str], limits: Limits | None = None) -> dict[str, np.ndarray]:
    """The canonical pass buffers (:mod:`.passes`) a Blender or Nuke EXR holds, as float32.

    Layers that map to no canonical pass are left out; :func:`read_layers` has them.
    A camera in the header (:mod:`.camera_metadata`) becomes the ``camera_matrix`` buffer.
    """
    path = Path(path)
    headers = _headers(path, limits or Limits())
    channels = _read_channels(path, headers)
    buffers = {name: np.ascontiguousarray(assemble_buffer(source, channels)) for name, source in find_buffers(channels).items()}
    camera = camera_from_headers(part.header for part in headers)
    if camera is not None:
        buffers[passes.CAMERA_MATRIX] = camera
    return buffers


def read_layers(path: str | os.PathLike[str], limits: Limits | None = None) -> dict[str, np.ndarray]:
    """Every layer as one float32 array, (H, W) or (H, W, C) with channels in R G B A / X Y Z W / u v order.

    Bare ``R, G, B, A`` channels form the layer ``""``.
    """
    channels = read_channels(path, limits)
    layers: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name, pixels in channels.items():
        prefix, layer, channel = split_channel(name)
        layers.setdefault(f"{prefix}.{layer}" if prefix else layer, []).append((channel, pixels))
    result = {}
    for layer, members in layers.items():
        members.sort(key=lambda item: (_COMPONENT_ORDER.get(item[0].lower(), len(_COMPONENT_ORDER)), item[0]))
        result[layer] = members[0][1] if len(members) == 1 else np.stack([pixels for _, pixels in members], axis=-1)
    return result


_WRITE_LAYOUT: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    passes.BEAUTY: (("R", "G", "B", "A"), (1.0, 1.0, 1.0, 1.0)),
    passes.DEPTH: (("depth.Z",), (1.0,)),
    passes.NORMAL: (("normal.X", "normal.Y", "normal.Z"), (1.0, 1.0, 1.0)),
    passes.MOTION_BACKWARD: (("backward.u", "backward.v"), (1.0, -1.0)),
    passes.MOTION_FORWARD: (("forward.u", "forward.v"), (1.0, -1.0)),
    passes.OBJECT_INDEX: (("object index.X",), (1.0,)),
    passes.MATERIAL_INDEX: (("material index.X",), (1.0,)),
}


def _channel_names(name: str, count: int) -> tuple[tuple[str, ...], tuple[float, ...]]:
    if name in _WRITE_LAYOUT and len(_WRITE_LAYOUT[name][0]) >= count:
        names, signs = _WRITE_LAYOUT[name]
        return names[:count], signs[:count]
    if count == 1:
        suffixes: tuple[str, ...] = ("Y",)
    elif count <= 4:
        suffixes = ("R", "G", "B", "A")[:count] if count >= 3 else ("X", "Y")
    else:
        suffixes = tuple(str(index) for index in range(count))
    return tuple(f"{name}.{suffix}" for suffix in suffixes), (1.0,) * count


def _pixels(array: np.ndarray, half: bool) -> np.ndarray:
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535.0
    elif array.dtype not in (np.float16, np.float32, np.float64):
        raise ExrError(f"cannot write dtype {array.dtype} to EXR; use uint8, uint16, float16 or float32")
    return np.ascontiguousarray(array, dtype=np.float16 if half or array.dtype == np.float16 else np.float32)


def write_exr(
    path: str | os.PathLike[str],
    buffers: Mapping[str, np.ndarray],
    *,
    half: bool = False,
    compression: str = "zip",
    multipart: bool = False,
    header: Mapping[str, Any] | None = None,
) -> Path:
    """Write named (H, W) or (H, W, C) buffers to one EXR, atomically; returns the path.

    ``half`` stores float32 buffers as half floats; ``multipart`` writes one part
    per buffer (as Blender 5 does) instead of one part for all; ``header`` adds
    string or number attributes. A (4, 4) ``camera_matrix`` buffer is written as the
    header's ``worldToCamera``, not as a layer.
    """
    OpenEXR = _openexr()
    path = Path(path)
    camera = buffers.get(passes.CAMERA_MATRIX)
    if camera is not None and np.shape(camera) == (4, 4):
        buffers = {name: array for name, array in buffers.items() if name != passes.CAMERA_MATRIX}
        header = {**(header or {}), STANDARD_ATTRIBUTE: standard_attribute(camera)}
    if compression not in COMPRESSIONS:
        raise ExrError(f"unknown EXR compression {compression!r}; choose one of {', '.join(COMPRESSIONS)}")
    if not buffers:
        raise ExrError(f"{path}: nothing to write")
    shapes = {array.shape[:2] for array in buffers.values()}
    if len(shapes) != 1 or any(np.ndim(array) not in (2, 3) for array in buffers.values()):
        raise ExrError(f"{path}: buffers must be (H, W) or (H, W, C) images of one size, got {sorted(shapes)}")
    attributes = dict(header or {})
    attributes["compression"] = getattr(OpenEXR, "NO_COMPRESSION" if compression == "none" else f"{compression.upper()}_COMPRESSION")
    attributes["type"] = OpenEXR.scanlineimage
    groups: list[tuple[str, dict[str, np.ndarray]]] = []
    for name, array in buffers.items():
        array = np.asarray(array)
        planes = array[..., None] if array.ndim == 2 else array
        names, signs = _channel_names(name, planes.shape[-1])
        channels = {
            channel: _pixels(planes[..., index] * sign if sign != 1.0 else planes[..., index], half)
            for index, (channel, sign) in enumerate(zip(names, signs))
        }
        groups.append((name, channels))
    try:
        with atomic_path(path) as temporary:
            if multipart:
                parts = [OpenEXR.Part({**attributes, "name": name}, channels) for name, channels in groups]
                exr = OpenEXR.File(parts)
            else:
                exr = OpenEXR.File(attributes, {channel: pixels for _, channels in groups for channel, pixels in channels.items()})
            exr.write(str(temporary))
    except Exception as error:
        raise ExrError(f"{path}: could not write EXR ({error})") from error
    return path
