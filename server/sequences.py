"""Frame sequences on disk: `frame_####.exr` patterns, reading frames as buffers, writing results atomically.

EXR frames are read as canonical pass buffers (scene-linear). PNG/TIFF/JPEG
frames are display-referred sRGB and become a scene-linear ``beauty`` buffer.
Results go to EXR (every buffer as a layer) or to image files (one buffer each;
``{name}`` in the output pattern names the buffer).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import numpy as np

from framebridge.protocol import exr, passes
from framebridge.protocol.errors import InvalidParams, MediaError
from framebridge.protocol.files import atomic_path

from .colour import display_to_linear, linear_to_display

__all__ = ["FramePattern", "read_frame", "read_still", "write_result"]

_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%0?(\d*)d")
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


class FramePattern:
    """A path with one frame-number placeholder: ``####`` (zero-padded to its length) or ``%04d``."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        hashes, printf = _HASHES.findall(pattern), _PRINTF.findall(pattern)
        if len(hashes) + len(printf) != 1:
            raise InvalidParams(f"{pattern!r} needs exactly one frame placeholder such as #### or %04d")
        self._padding = len(hashes[0]) if hashes else int(printf[0] or 1)
        self._template = (_HASHES if hashes else _PRINTF).sub("{frame}", pattern.replace("{", "{{").replace("}", "}}")
                                                              .replace("{{name}}", "{name}"))

    @property
    def suffix(self) -> str:
        return Path(self.pattern).suffix.lower()

    def path(self, frame: int, name: str | None = None) -> Path:
        number = f"{frame:0{self._padding}d}" if frame >= 0 else f"-{-frame:0{self._padding}d}"
        return Path(self._template.format(frame=number, name=name or ""))

    def existing_frames(self) -> list[int]:
        """Frame numbers of the files on disk that match the pattern."""
        path = Path(self.pattern)
        regex = re.compile("^" + re.sub(r"(?:\\#)+|%0?\d*d", r"(-?\\d+)", re.escape(path.name)) + "$")
        folder = path.parent
        if not folder.is_dir():
            return []
        return sorted(int(match.group(1)) for entry in folder.iterdir() if (match := regex.match(entry.name)))


def read_frame(pattern: FramePattern, frame: int) -> dict[str, np.ndarray]:
    """One input frame's buffers."""
    path = pattern.path(frame)
    if not path.exists():
        raise MediaError(f"input frame {frame} is missing: {path}")
    return read_still(path)


def read_still(path: Path) -> dict[str, np.ndarray]:
    """One image file's buffers (an EXR's passes, or a display image as a linear ``beauty``)."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path} is missing")
    suffix = path.suffix.lower()
    if suffix == ".exr":
        return exr.read_frame(path)
    if suffix in IMAGE_SUFFIXES:
        import cv2

        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim != 3 or image.shape[2] not in (3, 4):
            raise MediaError(f"{path} is not a readable RGB or RGBA image")
        scale = float(np.iinfo(image.dtype).max) if image.dtype.kind == "u" else 1.0
        rgba = image[..., [2, 1, 0, 3][: image.shape[2]]].astype(np.float32) / scale
        rgba[..., :3] = display_to_linear(rgba[..., :3])
        return {passes.BEAUTY: rgba}
    raise InvalidParams(f"cannot read {path.suffix} images; use .exr, .png, .tif or .jpg")


def write_result(pattern: FramePattern, frame: int, buffers: Mapping[str, np.ndarray], *, half: bool = False) -> list[Path]:
    """Write one result frame atomically; returns the files written."""
    if pattern.suffix == ".exr":
        if "{name}" in pattern.pattern:
            return [exr.write_exr(pattern.path(frame, name), {name: array}, half=half) for name, array in buffers.items()]
        return [exr.write_exr(pattern.path(frame), buffers, half=half)]
    if pattern.suffix not in IMAGE_SUFFIXES:
        raise InvalidParams(f"cannot write {pattern.suffix} frames; use .exr, .png or .tif")
    if "{name}" not in pattern.pattern:
        if passes.BEAUTY in buffers:
            buffers = {passes.BEAUTY: buffers[passes.BEAUTY]}
        elif len(buffers) != 1:
            raise InvalidParams(f"the result has buffers {sorted(buffers)}: write .exr, or put {{name}} in the output pattern")
    return [_write_image(pattern.path(frame, name), name, array) for name, array in buffers.items()]


def _write_image(path: Path, name: str, array: np.ndarray) -> Path:
    """Images are display-referred: float beauty is sRGB-encoded to 16 bits, uint8 conditions written as they are."""
    import cv2

    if array.dtype.kind == "f":
        pixels = np.array(array, dtype=np.float32)
        if name == passes.BEAUTY:
            pixels[..., :3] = linear_to_display(pixels[..., :3])
        array = np.round(np.clip(pixels, 0.0, 1.0) * 65535.0).astype(np.uint16)
    if array.ndim == 3 and array.shape[2] == 2:
        # Two channels (an STMap's u, v) go to red and green, as Nuke's STMap reads them.
        array = np.concatenate([array, np.zeros(array.shape[:2] + (1,), array.dtype)], axis=2)
    if array.ndim == 3:
        array = array[..., [2, 1, 0, 3][: array.shape[2]]] if array.shape[2] in (3, 4) else array
    with atomic_path(path) as temporary:
        if not cv2.imwrite(str(temporary), np.ascontiguousarray(array)):
            raise MediaError(f"could not write {path}")
    return path
