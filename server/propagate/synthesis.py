"""Guided fill: a look for pixels no keyframe saw, found in the keyframes by what the passes say they are.

For each object id (or the whole frame, without an object pass) the keyframe
pixels of that object teach a colour model: an affine map from the render's
colour (in the guides' encoding, :func:`..propagate.shot.perceptual`) to the keyframe's colour, plus what the keyframe added on top of
it (strokes, texture), looked up by patch: each unseen pixel takes the residual
of the keyframe pixel of the same object whose guide patch (display colour, the
luminance of the 3x3 neighbourhood, and depth) is nearest, by exact search. So a disoccluded stretch of the
blue cube gets the blue cube's painted look, shaded as the render shades it
there, and never the floor's. An object no keyframe shows at all falls back to
the model of every keyframe pixel. Residuals are matched at a reduced scale
(long side at most ``MATCH_SIDE``), the affine part at full resolution; the result
stays within the colours the keyframe used on that object.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Holes", "KeySample", "StyleModel", "guide_features"]

MATCH_SIDE = 360
MAX_SAMPLES = 3000  # keyframe pixels per object kept for matching (a regular subsample)
RIDGE = 0.001  # per keyframe pixel, on the affine colour terms
MATCH_DISTANCE = 0.25  # guide-feature distance at which a matched patch lends nothing of its residual
_ALL = -1.0
FEATURES = 13


@dataclass(frozen=True)
class KeySample:
    """A keyframe and its frame's guides: the look (linear RGB), the render's colour (guide encoding), object ids, depth."""

    style: np.ndarray
    guide: np.ndarray
    objects: np.ndarray | None
    depth: np.ndarray | None


def guide_features(guide: np.ndarray, depth: np.ndarray | None) -> np.ndarray:
    """Per pixel: its guide colour, the luminance of its 3x3 neighbourhood and inverse depth, as (H, W, 13)."""
    guide = np.ascontiguousarray(guide, dtype=np.float32)
    luma = cv2.copyMakeBorder(guide @ np.array([0.2126, 0.7152, 0.0722], np.float32), 1, 1, 1, 1, cv2.BORDER_REFLECT)
    height, width = guide.shape[:2]
    patch = [luma[dy:dy + height, dx:dx + width, None] for dy in range(3) for dx in range(3)]
    if depth is None:
        relief = np.zeros((height, width, 1), np.float32)
    else:
        # Inverse depth: near surfaces differ strongly, the far background not at all; in colour-like units.
        finite = np.where(np.isfinite(depth) & (depth > 0), depth, np.inf)
        relief = (1.0 / np.maximum(finite, 1e-3)).astype(np.float32)[..., None]
    return np.concatenate([guide] + patch + [relief], axis=2)


class _ObjectModel:
    def __init__(self, colours: np.ndarray, looks: np.ndarray, features: np.ndarray):
        design = np.hstack([colours, np.ones((len(colours), 1), np.float32)]).astype(np.float64)
        # Ridge on the colour terms: an object the keyframes show in one flat colour gets that colour, not a wild slope.
        penalty = np.diag([RIDGE * len(colours)] * 3 + [0.0])
        self.affine = np.linalg.solve(design.T @ design + penalty, design.T @ looks).astype(np.float32)
        residuals = looks - design @ self.affine
        stride = max(1, len(features) // MAX_SAMPLES)
        self.features = np.ascontiguousarray(features[::stride], dtype=np.float32)
        self.norms = (self.features * self.features).sum(axis=1)
        self.residuals = residuals[::stride]
        self.low, self.high = looks.min(axis=0), looks.max(axis=0)

    def colour(self, colours: np.ndarray) -> np.ndarray:
        return colours @ self.affine[:3] + self.affine[3]

    def residual(self, features: np.ndarray) -> np.ndarray:
        """The residual of the nearest keyframe patch, faded out as the match gets worse (exact search, in blocks)."""
        nearest = np.empty(len(features), np.int64)
        distance = np.empty(len(features), np.float32)
        for start in range(0, len(features), 2048):
            block = np.asarray(features[start:start + 2048], dtype=np.float32)
            partial = self.norms[None, :] - 2.0 * block @ self.features.T  # |q|^2 is the same for every candidate
            nearest[start:start + 2048] = best = np.argmin(partial, axis=1)
            squared = partial[np.arange(len(block)), best] + (block * block).sum(axis=1)
            distance[start:start + 2048] = np.sqrt(np.maximum(squared, 0.0))
        fade = np.clip(1.0 - distance / MATCH_DISTANCE, 0.0, 1.0)[:, None]
        return self.residuals[nearest] * fade


class StyleModel:
    """What the keyframes of a segment say each object looks like."""

    def __init__(self, samples: list[KeySample]):
        self.models: dict[float, _ObjectModel] = {}
        height, width = samples[0].style.shape[:2]
        self.scale = min(1.0, MATCH_SIDE / max(height, width))
        colours, looks, features, objects = [], [], [], []
        for sample in samples:
            small_style, small_guide, small_objects, small_depth = self._shrink(sample)
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

    def _shrink(self, sample: KeySample):
        if self.scale >= 1.0:
            return sample.style[..., :3], sample.guide[..., :3], sample.objects, sample.depth
        size = (max(1, round(sample.style.shape[1] * self.scale)), max(1, round(sample.style.shape[0] * self.scale)))
        shrink = lambda image, mode: None if image is None else cv2.resize(np.ascontiguousarray(image), size, interpolation=mode)  # noqa: E731
        return (shrink(sample.style[..., :3], cv2.INTER_AREA), shrink(sample.guide[..., :3], cv2.INTER_AREA),
                shrink(sample.objects, cv2.INTER_NEAREST), shrink(sample.depth, cv2.INTER_NEAREST))

    def fill(self, holes: "Holes") -> np.ndarray:
        """A look (linear RGB) for every pixel of ``holes``; zeros elsewhere."""
        out = np.zeros(holes.guide.shape[:2] + (3,), np.float32)
        if holes.empty:
            return out
        residual = np.zeros(holes.small_ids.shape + (3,), np.float32)
        for object_id, where, where_small in holes.objects:
            model = self.models.get(object_id, self.models[_ALL])
            if where_small.any():
                residual[where_small] = model.residual(holes.features[where_small])
        residual = holes.upscale(cv2.medianBlur(residual, 3))  # single mismatched patches would sparkle
        for object_id, where, _ in holes.objects:
            model = self.models.get(object_id, self.models[_ALL])
            # The fill never invents a colour the keyframe did not use on that object.
            out[where] = np.clip(model.colour(holes.guide[where][:, :3]) + residual[where], model.low, model.high)
        return out


class Holes:
    """One frame's pixels to fill, with what every keyframe's model needs of them, computed once."""

    def __init__(self, guide: np.ndarray, objects: np.ndarray | None, depth: np.ndarray | None, mask: np.ndarray):
        self.guide = guide
        height, width = guide.shape[:2]
        self.empty = not mask.any()
        scale = min(1.0, MATCH_SIDE / max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = (lambda image, mode: image if scale >= 1.0 or image is None  # noqa: E731
                 else cv2.resize(np.ascontiguousarray(image), size, interpolation=mode))
        small_guide, small_depth = small(guide[..., :3], cv2.INTER_AREA), small(depth, cv2.INTER_NEAREST)
        small_mask = small(mask.astype(np.uint8), cv2.INTER_NEAREST) > 0
        small_mask |= cv2.dilate(small_mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        full_ids = objects if objects is not None else np.full((height, width), _ALL, np.float32)
        self.small_ids = small(objects, cv2.INTER_NEAREST) if objects is not None else np.full(small_mask.shape, _ALL, np.float32)
        self.features = guide_features(small_guide, small_depth)
        self.size = (width, height)
        self.objects = [(float(object_id), mask & (full_ids == object_id), small_mask & (self.small_ids == object_id))
                        for object_id in ([] if self.empty else np.unique(full_ids[mask]))]

    def upscale(self, image: np.ndarray) -> np.ndarray:
        return image if image.shape[1::-1] == self.size else cv2.resize(image, self.size, interpolation=cv2.INTER_LINEAR)
