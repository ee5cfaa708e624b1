"""Guided fill: a look for pixels no keyframe saw, found in the keyframes by what the passes say they are.

For each object id (or the whole frame, without an object pass) the keyframe
pixels of that object teach a colour model: an affine map from the render's
colour (in the guides' encoding, :func:`..propagate.shot.perceptual`) to the keyframe's colour, plus what the keyframe added on top of
it (strokes, texture), looked up by patch: each unseen pixel takes the residual
of the keyframe pixel of the same object whose guide patch (display colour, the
luminance of the 3x3 neighbourhood, and depth) is nearest, by exact search (:mod:`.nearest`). So a disoccluded stretch of the
blue cube gets the blue cube's painted look, shaded as the render shades it
there, and never the floor's. An object no keyframe shows at all falls back to
the model of every keyframe pixel. Residuals are matched at a reduced scale
(long side at most ``MATCH_SIDE``), the affine part at full resolution; the result
stays within the colours the keyframe used on that object.

A frame's fill is computed for its hole pixels alone, with the matching done in
their bounding box at the matching size (:class:`Holes`); a keyframe's models are
built once per keyframe (:class:`StyleModel`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numba import njit

from .nearest import DIMENSIONS, NearestSearch

__all__ = ["Holes", "KeySample", "StyleModel", "guide_features", "match_size"]

MATCH_SIDE = 360
MAX_SAMPLES = 3000  # keyframe pixels per object kept for matching (a regular subsample)
RIDGE = 0.001  # per keyframe pixel, on the affine colour terms
MATCH_DISTANCE = 0.25  # guide-feature distance at which a matched patch lends nothing of its residual
_ALL = -1.0
FEATURES = DIMENSIONS
_ROW = 1024  # hole pixels per row of the sampling maps of Holes.upscale


def match_size(height: int, width: int) -> tuple[int, int]:
    """The (width, height) at which residuals are matched."""
    scale = min(1.0, MATCH_SIDE / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass(frozen=True)
class KeySample:
    """A keyframe and its frame's guides: the look (linear RGB), the render's colour (guide encoding, any size), object ids, depth."""

    style: np.ndarray
    guide: np.ndarray
    objects: np.ndarray | None
    depth: np.ndarray | None


def guide_features(guide: np.ndarray, depth: np.ndarray | None) -> np.ndarray:
    """Per pixel: its guide colour, the luminance of its 3x3 neighbourhood and inverse depth, as (H, W, 13)."""
    guide = np.ascontiguousarray(guide, dtype=np.float32)
    height, width = guide.shape[:2]
    luma = cv2.copyMakeBorder(cv2.transform(guide, np.array([[0.2126, 0.7152, 0.0722]], np.float32)), 1, 1, 1, 1,
                              cv2.BORDER_REFLECT)
    features = np.empty((height, width, FEATURES), np.float32)
    features[..., :3] = guide
    for index, (dy, dx) in enumerate((dy, dx) for dy in range(3) for dx in range(3)):
        features[..., 3 + index] = luma[dy:dy + height, dx:dx + width]
    if depth is None:
        features[..., 12] = 0.0
    else:
        # Inverse depth: near surfaces differ strongly, the far background not at all; in colour-like units.
        finite = np.where(np.isfinite(depth) & (depth > 0), depth, np.inf)
        features[..., 12] = 1.0 / np.maximum(finite, 1e-3)
    return features


class _ObjectModel:
    def __init__(self, colours: np.ndarray, looks: np.ndarray, features: np.ndarray):
        design = np.hstack([colours, np.ones((len(colours), 1), np.float32)]).astype(np.float64)
        # Ridge on the colour terms: an object the keyframes show in one flat colour gets that colour, not a wild slope.
        penalty = np.diag([RIDGE * len(colours)] * 3 + [0.0])
        self.affine = np.linalg.solve(design.T @ design + penalty, design.T @ looks).astype(np.float32)
        residuals = looks - design @ self.affine
        stride = max(1, len(features) // MAX_SAMPLES)
        self.nearest = NearestSearch(features[::stride])
        self.residuals = residuals[::stride].astype(np.float32)
        channels = np.ascontiguousarray(looks.T)  # numpy reduces (N, 3) along N slowly, (3, N) along rows fast
        self.low, self.high = channels.min(axis=1), channels.max(axis=1)

    def colour(self, colours: np.ndarray) -> np.ndarray:
        return colours @ self.affine[:3] + self.affine[3]

    def residual(self, features: np.ndarray) -> np.ndarray:
        """The residual of the nearest keyframe patch, faded out as the match gets worse (exact search)."""
        nearest, squared = self.nearest(features)
        fade = np.clip(1.0 - np.sqrt(squared) / MATCH_DISTANCE, 0.0, 1.0)[:, None]
        return self.residuals[nearest] * fade


class StyleModel:
    """What the keyframes of a segment say each object looks like."""

    def __init__(self, samples: list[KeySample]):
        self.models: dict[float, _ObjectModel] = {}
        colours, looks, features, objects = [], [], [], []
        for sample in samples:
            small_style, small_guide, small_objects, small_depth = _shrink(sample)
            features.append(guide_features(small_guide, small_depth).reshape(-1, FEATURES))
            colours.append(small_guide.reshape(-1, 3))
            looks.append(small_style.reshape(-1, 3))
            objects.append(small_objects.reshape(-1) if small_objects is not None else np.full(small_guide.shape[0] * small_guide.shape[1], _ALL, np.float32))
        colour, look, feature, ids = (np.concatenate(parts) for parts in (colours, looks, features, objects))
        self.models[_ALL] = _ObjectModel(colour, look, feature)
        for object_id in np.unique(ids):
            if object_id == _ALL:
                continue
            chosen = ids == object_id
            if chosen.sum() >= 4:
                self.models[float(object_id)] = _ObjectModel(colour[chosen], look[chosen], feature[chosen])

    def fill(self, holes: "Holes") -> np.ndarray:
        """A look (linear RGB) for each of ``holes.pixels``, as (N, 3)."""
        out = np.zeros((len(holes.pixels), 3), np.float32)
        if holes.empty:
            return out
        residual = np.zeros(holes.small_shape + (3,), np.float32)
        for object_id, _, where_small in holes.objects:
            if where_small.any():
                residual[where_small] = self._model(object_id).residual(holes.features[where_small])
        residual = holes.upscale(cv2.medianBlur(residual, 3))  # single mismatched patches would sparkle
        for object_id, run, _ in holes.objects:
            model = self._model(object_id)
            _shade(holes.guide[run], residual[run], model.affine, model.low, model.high, out[run])
        return out

    def _model(self, object_id: float) -> _ObjectModel:
        return self.models.get(object_id, self.models[_ALL])


@njit(nogil=True, cache=True)
def _shade(guide, residual, affine, low, high, out):
    """``out = guide @ affine[:3] + affine[3] + residual`` per pixel, in one pass (numpy's passes over (N, 3) are slow)."""
    for pixel in range(len(out)):
        red, green, blue = guide[pixel, 0], guide[pixel, 1], guide[pixel, 2]
        for channel in range(3):
            value = (red * affine[0, channel] + green * affine[1, channel] + blue * affine[2, channel] + affine[3, channel]
                     + residual[pixel, channel])
            # The fill never invents a colour the keyframe did not use on that object.
            out[pixel, channel] = min(max(value, low[channel]), high[channel])


@njit(nogil=True, cache=True)
def _sample_holes(pixels, render, width, scale_x, scale_y, left, top, guide, map_x, map_y):
    """Each hole pixel's guide colour (:func:`.shot.perceptual` of the render) and where it falls at the matching size
    (as cv2.resize maps a destination pixel to its source, less the box's corner), in one pass."""
    for index in range(len(pixels)):
        pixel = pixels[index]
        row, column = pixel // width, pixel % width
        for channel in range(3):
            guide[index, channel] = np.sqrt(min(max(render[pixel, channel], np.float32(0.0)), np.float32(1.0)))
        map_x[index] = (column + 0.5) * scale_x - 0.5 - left
        map_y[index] = (row + 0.5) * scale_y - 0.5 - top


def _resized(image: np.ndarray | None, size: tuple[int, int], interpolation: int) -> np.ndarray | None:
    if image is None or image.shape[1::-1] == size:
        return image
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=interpolation)


def _shrink(sample: KeySample):
    """A keyframe sample at the matching size: looks and colours by area, ids and depth by nearest neighbour."""
    size = match_size(*sample.style.shape[:2])
    return (_resized(sample.style[..., :3], size, cv2.INTER_AREA), _resized(sample.guide[..., :3], size, cv2.INTER_AREA),
            _resized(sample.objects, size, cv2.INTER_NEAREST), _resized(sample.depth, size, cv2.INTER_NEAREST))


class Holes:
    """One frame's pixels to fill, with what every keyframe's model needs of them, computed once and only for them.

    ``render`` is the frame's beauty (linear, full size), of which only the hole pixels
    are read; ``small_guide`` is its guide colour at any size (resampled to the matching
    size here). Matching works in the holes' bounding box at the matching size. ``pixels``
    (flat indices) come in runs of one object each, so an object's pixels are a slice.
    """

    def __init__(self, mask: np.ndarray, render: np.ndarray, small_guide: np.ndarray, objects: np.ndarray | None,
                 depth: np.ndarray | None):
        height, width = mask.shape
        self.size = (width, height)
        self.pixels = np.flatnonzero(mask)  # flat indices into the frame
        self.empty = not len(self.pixels)
        if self.empty:
            return
        small_size = match_size(height, width)
        used_columns = np.flatnonzero(mask.any(axis=0))
        top, bottom = self.pixels[0] // width, self.pixels[-1] // width + 1
        left, right = used_columns[0], used_columns[-1] + 1
        scale_x, scale_y = small_size[0] / width, small_size[1] / height
        # The box at the matching size: the dilated holes, their bilinear neighbours and one ring of untouched
        # pixels, so the median and the upscale see what they would see on the whole frame.
        self.small_box = small_top, small_bottom, small_left, small_right = (
            max(0, int(np.floor(top * scale_y)) - 2), min(small_size[1], int(np.ceil(bottom * scale_y)) + 2),
            max(0, int(np.floor(left * scale_x)) - 2), min(small_size[0], int(np.ceil(right * scale_x)) + 2))
        small_mask = _resized(mask.view(np.uint8), small_size, cv2.INTER_NEAREST)
        small_mask = cv2.dilate(small_mask, np.ones((3, 3), np.uint8))[small_top:small_bottom, small_left:small_right] > 0
        # Features need one pixel more around the box for their 3x3 patches (reflected only at the frame's edges).
        outer_top, outer_left = max(0, small_top - 1), max(0, small_left - 1)
        cut = (slice(outer_top, min(small_size[1], small_bottom + 1)), slice(outer_left, min(small_size[0], small_right + 1)))
        inner = (slice(small_top - outer_top, small_bottom - outer_top), slice(small_left - outer_left, small_right - outer_left))
        small_depth = _resized(depth, small_size, cv2.INTER_NEAREST)
        self.features = guide_features(_resized(small_guide[..., :3], small_size, cv2.INTER_AREA)[cut],
                                       None if small_depth is None else small_depth[cut])[inner]
        self.small_shape = small_mask.shape
        if objects is None:
            self.objects = [(_ALL, slice(0, len(self.pixels)), small_mask)]
        else:
            ids = objects.reshape(-1)[self.pixels]
            order = np.argsort(ids, kind="stable")
            self.pixels, ids = self.pixels[order], ids[order]
            starts = np.concatenate([[0], np.flatnonzero(ids[1:] != ids[:-1]) + 1])
            kinds = ids[starts]
            small_ids = _resized(objects, small_size, cv2.INTER_NEAREST)[small_top:small_bottom, small_left:small_right]
            ends = list(starts[1:]) + [len(ids)]
            self.objects = [(float(object_id), slice(start, end), small_mask & (small_ids == object_id))
                            for object_id, start, end in zip(kinds, starts, ends)]
        self.guide = np.empty((len(self.pixels), 3), np.float32)
        # (cv2.remap takes maps of at most 32767 rows and columns: the list is laid out in rows of _ROW.)
        padded = -(-len(self.pixels) // _ROW) * _ROW
        self._map_x, self._map_y = (np.zeros(padded, np.float32) for _ in range(2))
        _sample_holes(self.pixels, render.reshape(-1, render.shape[2]), width, scale_x, scale_y, small_left, small_top,
                      self.guide, self._map_x, self._map_y)

    def upscale(self, small: np.ndarray) -> np.ndarray:
        """An image of the small box sampled bilinearly at the hole pixels, as cv2.resize of the whole frame would: (N, C)."""
        shape = (len(self._map_x) // _ROW, _ROW)
        sampled = cv2.remap(small, self._map_x.reshape(shape), self._map_y.reshape(shape), cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
        return sampled.reshape(len(self._map_x), -1)[:len(self.pixels)]
