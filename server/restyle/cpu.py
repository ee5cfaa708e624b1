"""The CPU default restyle backend: OpenCV stylisation that needs no model weights.

Each look smooths and abstracts colour at a reduced working scale (where edge-
preserving filters are cheap), brings the result back to full resolution with a
guided filter steered by the full-resolution frame (so edges stay sharp), and
draws lines with an extended difference of Gaussians (XDoG) at full resolution.
Colour and lines come back apart (:class:`StyleLayers`, ``run_layers``), so the
restyle op can carry each from frame to frame its own way.

Looks (``look`` param, or chosen from prompt keywords when ``look`` is ``auto``):
- ``toon``: flat cel shading (bilateral smoothing, soft luminance quantisation) with ink lines;
  prompt words cartoon, toon, anime, comic, cel, manga.
- ``paint``: oil-paint abstraction (Kuwahara filters sized to the frame, banded and richer colour, brush
  strokes streaked along the forms over a fixed canvas) with soft contours;
  prompt words paint, painting, painted, oil, impressionist, brush, gouache, watercolor, watercolour.
- ``sketch``: pencil drawing on paper (tonal bands, XDoG lines, pencil grain from the seed), outlined
  along object-id borders and depth jumps when the frame came with those passes (exact where
  luminance has no edge, e.g. an object as bright as what is behind it);
  prompt words sketch, pencil, drawing, charcoal, ink, graphite, hatching.
``auto`` with no keyword is ``toon``. ``palette`` snaps colours to a named palette or a list of
``#rrggbb`` colours. ``strength`` mixes from the input frame (0) to the full look (1). The
sketch's grain comes from the request seed and the paint's canvas from a fixed one, so equal
requests give equal bytes.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import cv2
import numpy as np

from framebridge.protocol.errors import InvalidParams

from .backend import RestyleBackend, StyleLayers, StyleRequest

__all__ = ["CpuBackend", "LOOKS", "PALETTES", "look_for_prompt", "parse_palette"]

LOOKS = ("auto", "toon", "paint", "sketch")

LOOK_KEYWORDS = {
    "toon": ("cartoon", "toon", "anime", "comic", "cel", "manga"),
    "paint": ("paint", "painting", "painted", "oil", "impressionist", "brush", "gouache", "watercolor", "watercolour"),
    "sketch": ("sketch", "pencil", "drawing", "charcoal", "ink", "graphite", "hatching"),
}

PALETTES = {
    "none": (),
    "noir": ("#0b0b0f", "#3a3a40", "#8a8a90", "#e8e6e0"),
    "sepia": ("#2b1d0e", "#6b4a2b", "#a97c50", "#dcc29a", "#f4e9d4"),
    "pastel": ("#f7c5cc", "#f9e2ae", "#bde0c6", "#a8d8ea", "#cdb4db", "#fdfcfa", "#6d6875"),
    "gameboy": ("#0f380f", "#306230", "#8bac0f", "#9bbc0f"),
    "sunset": ("#1b1039", "#5c2a6e", "#b33f62", "#f3722c", "#f9c74f", "#fff3d6"),
    "teal_orange": ("#0d1b2a", "#1b4965", "#5fa8d3", "#cae9ff", "#f4a261", "#e76f51", "#fdf0d5"),
}

WORK_LONG_SIDE = 480  # the working scale for the expensive filters; 1080p works at a quarter
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def look_for_prompt(prompt: str) -> str:
    """The look a prompt's keywords ask for (first keyword in the prompt wins), ``toon`` if none."""
    words = re.findall(r"[a-z]+", prompt.lower())
    for word in words:
        for look, keywords in LOOK_KEYWORDS.items():
            if word in keywords:
                return look
    return "toon"


def parse_palette(value: Any) -> tuple[tuple[float, float, float], ...]:
    """A palette name or a list of ``#rrggbb`` strings as RGB floats in 0..1; raises InvalidParams."""
    if isinstance(value, str):
        if value not in PALETTES:
            raise InvalidParams(f"unknown palette {value!r}", fix=f"choose one of {', '.join(sorted(PALETTES))}, or give a list of '#rrggbb' colours",
                                details={"allowed": sorted(PALETTES) + ["a list of '#rrggbb' colours"]})
        colours = PALETTES[value]
    elif isinstance(value, (list, tuple)) and 2 <= len(value) <= 64:
        colours = value
    else:
        raise InvalidParams("palette must be a palette name or a list of 2..64 '#rrggbb' colours",
                            fix=f"palette names: {', '.join(sorted(PALETTES))}", details={"allowed": sorted(PALETTES)})
    parsed = []
    for colour in colours:
        if not isinstance(colour, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
            raise InvalidParams(f"palette colour {colour!r} is not '#rrggbb'")
        parsed.append(tuple(int(colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5)))
    return tuple(parsed)


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(image, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def _luma(image: np.ndarray) -> np.ndarray:
    return cv2.transform(image, LUMA.reshape(1, 3))


def guided_upsample(low: np.ndarray, guide: np.ndarray, radius: int = 2, eps: float = 1e-3) -> np.ndarray:
    """Bring a low-resolution result to the guide's size, snapping its edges to the guide's (fast guided filter)."""
    height, width = guide.shape[:2]
    guide_low = cv2.resize(guide, (low.shape[1], low.shape[0]), interpolation=cv2.INTER_AREA)
    mean_guide = _box(guide_low, radius)
    variance = _box(guide_low * guide_low, radius) - mean_guide * mean_guide
    mean_low = _box(low, radius)
    covariance = _box(low * guide_low[..., None], radius) - mean_low * mean_guide[..., None]
    slope = covariance / (variance[..., None] + eps)
    offset = mean_low - slope * mean_guide[..., None]
    slope = cv2.resize(_box(slope, radius), (width, height), interpolation=cv2.INTER_LINEAR)
    offset = cv2.resize(_box(offset, radius), (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.add(cv2.multiply(slope, cv2.merge([guide, guide, guide])), offset)


def xdog_lines(gray: np.ndarray, sigma: float, sharpness: float = 60.0, threshold: float = 0.004) -> np.ndarray:
    """Ink coverage in 0..1 from an extended difference of Gaussians: dark where a dark line belongs."""
    narrow = cv2.GaussianBlur(gray, (0, 0), sigma)
    wide = cv2.GaussianBlur(gray, (0, 0), sigma * 1.6)
    response = cv2.subtract(wide, narrow)
    return np.clip((response - threshold) * sharpness, 0.0, 1.0)


def soft_quantise(values: np.ndarray, levels: int, softness: float = 0.08) -> np.ndarray:
    """Snap 0..1 values to ``levels`` bands with smooth (tanh) steps, so bands do not flicker."""
    scaled = values * (levels - 1)
    nearest = np.floor(scaled + 0.5)
    return (nearest + 0.5 * np.tanh((scaled - nearest) / softness) / np.tanh(0.5 / softness)) / (levels - 1)


def kuwahara(image: np.ndarray, radius: int) -> np.ndarray:
    """Classic four-quadrant Kuwahara filter: each pixel takes the mean of its least varied quadrant."""
    gray = _luma(image)
    size = radius + 1
    kernel = (size, size)
    means, variances = [], []
    for anchor in ((radius, radius), (0, radius), (radius, 0), (0, 0)):
        mean = cv2.boxFilter(image, -1, kernel, anchor=anchor, borderType=cv2.BORDER_REFLECT)
        mean_gray = cv2.boxFilter(gray, -1, kernel, anchor=anchor, borderType=cv2.BORDER_REFLECT)
        mean_square = cv2.boxFilter(gray * gray, -1, kernel, anchor=anchor, borderType=cv2.BORDER_REFLECT)
        means.append(mean)
        variances.append(mean_square - mean_gray * mean_gray)
    choice = np.argmin(np.stack(variances), axis=0)
    return np.take_along_axis(np.stack(means), choice[None, ..., None], axis=0)[0]


def snap_to_palette(image: np.ndarray, palette: tuple[tuple[float, float, float], ...], sharpness: float = 40.0) -> np.ndarray:
    """Replace colours by a soft nearest-palette-colour mix (softmax over distance) to keep it stable in time."""
    colours = np.asarray(palette, dtype=np.float32)
    distances = ((image[..., None, :] - colours) ** 2).sum(axis=-1)
    weights = np.exp(-sharpness * (distances - distances.min(axis=-1, keepdims=True)))
    weights /= weights.sum(axis=-1, keepdims=True)
    return (weights @ colours).astype(np.float32)


def brush_strokes(gray: np.ndarray, length: int = 9) -> np.ndarray:
    """A multiplier around 1 that streaks fixed canvas noise along the image's edges, like brush strokes.

    The noise is the same every frame (a canvas does not move), smeared along the
    local edge direction (one of four, from the structure tensor), so strokes follow
    the forms without flickering.
    """
    height, width = gray.shape
    noise = np.random.default_rng(0).random((height, width), dtype=np.float32)
    dx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    dy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    xx, yy, xy = (cv2.GaussianBlur(value, (0, 0), 2.0) for value in (dx * dx, dy * dy, dx * dy))
    # The edge tangent is perpendicular to the dominant gradient direction.
    tangent = (0.5 * np.arctan2(2 * xy, xx - yy) + np.pi / 2) % np.pi
    bucket = np.round(tangent / (np.pi / 4)).astype(np.int32) % 4
    streaks = np.empty_like(noise)
    for index in range(4):
        kernel = np.zeros((length, length), np.float32)
        angle = index * np.pi / 4
        centre = length // 2
        for step in range(-centre, centre + 1):
            kernel[round(centre + step * np.sin(angle)), round(centre + step * np.cos(angle))] = 1.0
        smeared = cv2.filter2D(noise, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)
        streaks[bucket == index] = smeared[bucket == index]
    spread = max(float(streaks.std()), 1e-6)
    return np.clip(1.0 + 0.09 * (streaks - streaks.mean()) / spread, 0.75, 1.25).astype(np.float32)


def geometry_outlines(passes: dict[str, np.ndarray], shape: tuple[int, int]) -> np.ndarray | None:
    """Ink coverage 0..1 on object-id borders and depth jumps: outlines luminance misses (a cube as bright as the floor).

    None when the frame has neither pass at the image's size.
    """
    edges = np.zeros(shape, dtype=bool)
    found = False
    ids = passes.get("object_index")
    if ids is not None and np.shape(ids) == shape:
        ids = np.asarray(ids)
        edges[:, 1:] |= ids[:, 1:] != ids[:, :-1]
        edges[1:, :] |= ids[1:, :] != ids[:-1, :]
        found = True
    depth = passes.get("depth")
    if depth is not None and np.shape(depth) == shape:
        depth = np.asarray(depth, dtype=np.float32)
        surface = np.isfinite(depth) & (depth > 0) & (depth < 1e9)
        near = np.where(surface, depth, np.float32(1e9))
        edges[:, 1:] |= np.abs(near[:, 1:] - near[:, :-1]) > 0.04 * np.minimum(near[:, 1:], near[:, :-1])
        edges[1:, :] |= np.abs(near[1:, :] - near[:-1, :]) > 0.04 * np.minimum(near[1:, :], near[:-1, :])
        found = True
    if not found:
        return None
    thickness = max(1, round(max(shape) / 960))
    ink = cv2.dilate(edges.astype(np.uint8), np.ones((thickness, thickness), np.uint8)).astype(np.float32)
    return cv2.GaussianBlur(ink, (0, 0), 0.6)


def _saturate(image: np.ndarray, amount: float) -> np.ndarray:
    gray = _luma(image)[..., None]
    return np.clip(gray + (image - gray) * amount, 0.0, 1.0)


class CpuBackend(RestyleBackend):
    """Stylises frames with OpenCV on the CPU; no weights, always available."""

    name: ClassVar[str] = "cpu"
    fuses_output: ClassVar[bool] = True
    draws_layers: ClassVar[bool] = True
    VERSION = "cpu-3"

    @property
    def version(self) -> str:
        return self.VERSION

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.VERSION,
            "summary": "OpenCV stylisation (toon, paint, sketch); no weights",
            "params": {
                "look": {"type": "str", "default": "auto", "choices": list(LOOKS),
                         "doc": "auto picks from prompt keywords: " + "; ".join(f"{look}: {', '.join(words)}" for look, words in LOOK_KEYWORDS.items())},
                "palette": {"type": "str | list[str]", "default": "none", "choices": sorted(PALETTES),
                            "doc": "a palette name or a list of '#rrggbb' colours"},
            },
            "uses": {"strength": "mix from the input (0) to the full look (1)", "seed": "pencil grain of the sketch look",
                     "prompt": "keywords choose the look when look is auto"},
            "ignores": ["negative_prompt", "guidance_scale", "steps", "conditions"],
            "models": [],
        }

    def check_options(self, options: dict[str, Any]) -> None:
        """Validate this backend's own params up front; raises InvalidParams naming what is allowed."""
        look = options.get("look", "auto")
        if look not in LOOKS:
            raise InvalidParams(f"unknown look {look!r}", fix=f"choose one of {', '.join(LOOKS)}", details={"allowed": list(LOOKS)})
        parse_palette(options.get("palette", "none"))

    def load(self) -> None:
        """Nothing to load: OpenCV is imported with the module."""

    def run(self, window: list[StyleRequest]) -> list[np.ndarray]:
        return [self.stylise(request) for request in window]

    def run_layers(self, window: list[StyleRequest]) -> list[StyleLayers]:
        return [self.layers(request) for request in window]

    def stylise(self, request: StyleRequest) -> np.ndarray:
        """One request's restyled image, (H, W, 3) float32 in 0..1 at the input's size."""
        return self.layers(request).compose()

    def layers(self, request: StyleRequest) -> StyleLayers:
        """One request's look as colour and ink lines at the input's size, faded towards the input by its strength."""
        image = np.ascontiguousarray(request.image, dtype=np.float32)
        look = request.options.get("look", "auto")
        if look == "auto":
            look = look_for_prompt(request.prompt)
        palette = parse_palette(request.options.get("palette", "none"))
        height, width = image.shape[:2]
        scale = min(1.0, WORK_LONG_SIDE / max(height, width))
        work_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(image, work_size, interpolation=cv2.INTER_AREA)
        gray = _luma(image)
        if look == "toon":
            layers = self._toon(small, gray, palette)
        elif look == "paint":
            layers = self._paint(small, gray, palette)
        else:
            layers = self._sketch(small, gray, palette, request.seed, request.passes)
        strength = np.float32(request.strength)
        return StyleLayers((image + (layers.colour - image) * strength).astype(np.float32),
                           (layers.lines * strength).astype(np.float32), layers.ink)

    def _toon(self, small: np.ndarray, gray: np.ndarray, palette) -> StyleLayers:
        smooth = small
        for _ in range(3):
            smooth = cv2.bilateralFilter(smooth, 5, 0.12, 3)
        if palette:
            flat = snap_to_palette(smooth, palette)
        else:
            luma = _luma(smooth)[..., None]
            banded = soft_quantise(luma, 5)
            flat = _saturate(smooth * (banded / np.maximum(luma, 1e-3)), 1.25)
        colour = np.clip(guided_upsample(flat, gray, eps=1e-2), 0.0, 1.0)
        return StyleLayers(colour, 0.9 * xdog_lines(gray, sigma=1.2))

    def _paint(self, small: np.ndarray, gray: np.ndarray, palette) -> StyleLayers:
        radius = max(3, round(max(small.shape[:2]) / 90))
        painted = kuwahara(cv2.bilateralFilter(small, 5, 0.1, 3), radius)
        painted = kuwahara(painted, max(2, radius // 2))
        if palette:
            painted = snap_to_palette(painted, palette, sharpness=20.0)
        else:
            luma = _luma(painted)[..., None]
            painted = _saturate(painted * (soft_quantise(luma, 7, softness=0.15) / np.maximum(luma, 1e-3)), 1.6)
        painted = painted * brush_strokes(_luma(small))[..., None]
        colour = np.clip(guided_upsample(painted, gray, radius=1, eps=1e-2), 0.0, 1.0)
        return StyleLayers(colour, 0.5 * xdog_lines(gray, sigma=1.6, sharpness=25.0, threshold=0.006))

    def _sketch(self, small: np.ndarray, gray: np.ndarray, palette, seed: int, passes: dict[str, np.ndarray]) -> StyleLayers:
        height, width = gray.shape
        tone = soft_quantise(cv2.GaussianBlur(_luma(small), (0, 0), 1.5), 4, softness=0.12)
        tone = cv2.resize(tone, (width, height), interpolation=cv2.INTER_LINEAR)
        generator = np.random.default_rng(seed)
        grain = generator.random((height // 2 + 1, width // 2 + 1), dtype=np.float32)
        grain = cv2.resize(cv2.blur(grain, (9, 1)), (width, height), interpolation=cv2.INTER_LINEAR)
        shading = np.clip(tone + (grain - 0.5) * 0.35 * (1.0 - tone), 0.0, 1.0)
        lines = xdog_lines(gray, sigma=1.0, sharpness=80.0)
        outlines = geometry_outlines(passes, (height, width))
        if outlines is not None:
            lines = np.maximum(lines, outlines)
        paper, ink = (palette[-1], palette[0]) if palette else ((0.97, 0.95, 0.9), (0.12, 0.12, 0.15))
        paper, ink = np.asarray(paper, np.float32), np.asarray(ink, np.float32)
        return StyleLayers((ink + (paper - ink) * shading[..., None]).astype(np.float32), 0.85 * lines, tuple(float(c) for c in ink))
