"""Dense backward warps from sparse point displacements: a thin-plate spline on a coarse grid, applied with cv2.remap.

Given points of the input image and where they should be in the output, the warp
tells every output pixel where to sample the input (a backward map), so the
output has no holes. The spline is solved on the control points, evaluated on a
grid every ``grid_step`` pixels of a region of interest, and interpolated bilinearly
to every pixel of it; outside the region the map is the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

__all__ = ["DenseWarp", "thin_plate_warp", "identity_stmap", "shared_identity_stmap"]


@dataclass(frozen=True)
class DenseWarp:
    """A backward map over ``roi`` (x0, y0, x1, y1) of an image of ``shape`` (H, W); identity elsewhere.

    ``map_x``/``map_y`` hold, for each output pixel of the roi, the absolute input position to sample.
    """

    shape: tuple[int, int]
    roi: tuple[int, int, int, int]
    map_x: np.ndarray
    map_y: np.ndarray

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The warped image (float or uint8, any channel count); pixels outside the roi are copied."""
        x0, y0, x1, y1 = self.roi
        output = image.copy()
        if x1 > x0 and y1 > y0:
            output[y0:y1, x0:x1] = self.sample(image)
        return output

    def sample(self, image: np.ndarray) -> np.ndarray:
        """Only the roi of the warped image (the full input is what it samples from)."""
        x0, y0, x1, y1 = self.roi
        warped = cv2.remap(np.ascontiguousarray(image), self.map_x, self.map_y, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        return warped.reshape(image[y0:y1, x0:x1].shape)

    def displacement_at(self, points: np.ndarray) -> np.ndarray:
        """The (source - output) offset the map holds at output ``points`` (nearest pixel; 0 outside the roi)."""
        x0, y0, x1, y1 = self.roi
        offsets = np.zeros((len(points), 2), np.float32)
        for index, (x, y) in enumerate(np.rint(points).astype(int)):
            if x0 <= x < x1 and y0 <= y < y1:
                offsets[index] = (self.map_x[y - y0, x - x0] - x, self.map_y[y - y0, x - x0] - y)
        return offsets

    def stmap(self) -> np.ndarray:
        """(H, W, 2) float32 Nuke STMap: u = (x + 0.5) / W, v = 1 - (y + 0.5) / H of the sampled input position."""
        height, width = self.shape
        stmap = identity_stmap(self.shape)
        x0, y0, x1, y1 = self.roi
        if x1 > x0 and y1 > y0:
            stmap[y0:y1, x0:x1, 0] = (self.map_x + 0.5) / width
            stmap[y0:y1, x0:x1, 1] = 1.0 - (self.map_y + 0.5) / height
        return stmap


def identity_stmap(shape: tuple[int, int]) -> np.ndarray:
    """The STMap that leaves an image of ``shape`` (H, W) unchanged (a fresh array the caller may change)."""
    return shared_identity_stmap(shape).copy()


@lru_cache(maxsize=4)
def shared_identity_stmap(shape: tuple[int, int]) -> np.ndarray:
    """The identity STMap of ``shape``, computed once and shared: read-only."""
    height, width = shape
    stmap = np.empty((height, width, 2), np.float32)
    stmap[..., 0] = ((np.arange(width, dtype=np.float32) + 0.5) / width)[None, :]
    stmap[..., 1] = (1.0 - (np.arange(height, dtype=np.float32) + 0.5) / height)[:, None]
    stmap.flags.writeable = False
    return stmap


def _kernel(distances_squared: np.ndarray) -> np.ndarray:
    """The thin-plate radial basis r² log r² (0 at r = 0)."""
    return np.where(distances_squared > 0, distances_squared * np.log(np.maximum(distances_squared, 1e-12)), 0.0)


def thin_plate_warp(source: np.ndarray, target: np.ndarray, shape: tuple[int, int],
                    roi: tuple[int, int, int, int] | None = None, grid_step: int = 8,
                    regularisation: float = 0.0) -> DenseWarp:
    """The backward warp that brings the input's ``source`` points to ``target`` in the output.

    Points that must stay put (a ring around the moving area, the rest of the face) go in with
    ``target == source``. ``roi`` defaults to the whole image; coordinates are pixels (x right, y down).
    """
    height, width = shape
    x0, y0, x1, y1 = roi if roi is not None else (0, 0, width, height)
    x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(width, int(x1)), min(height, int(y1))
    if x1 <= x0 or y1 <= y0:
        return DenseWarp((height, width), (0, 0, 0, 0), np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32))
    target = np.asarray(target, dtype=np.float64)
    offsets = np.asarray(source, dtype=np.float64) - target
    # Solve in a frame centred on the roi and scaled to about unit size, so the system is well conditioned.
    centre = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
    unit = max(x1 - x0, y1 - y0) / 2.0
    controls = (target - centre) / unit
    count = len(controls)
    system = np.zeros((count + 3, count + 3))
    system[:count, :count] = _kernel(((controls[:, None, :] - controls[None, :, :]) ** 2).sum(-1))
    system[:count, :count] += np.eye(count) * regularisation
    affine = np.hstack([np.ones((count, 1)), controls])
    system[:count, count:] = affine
    system[count:, :count] = affine.T
    values = np.zeros((count + 3, 2))
    values[:count] = offsets
    weights = np.linalg.lstsq(system, values, rcond=None)[0]

    columns = np.unique(np.append(np.arange(x0, x1, grid_step), x1 - 1))
    rows = np.unique(np.append(np.arange(y0, y1, grid_step), y1 - 1))
    grid = np.stack(np.meshgrid(columns, rows), -1).reshape(-1, 2).astype(np.float64)
    local = (grid - centre) / unit
    basis = _kernel(((local[:, None, :] - controls[None, :, :]) ** 2).sum(-1))
    coarse = basis @ weights[:count] + np.hstack([np.ones((len(local), 1)), local]) @ weights[count:]
    coarse = coarse.reshape(len(rows), len(columns), 2).astype(np.float32)
    # Bilinear from the coarse grid to every pixel, grid nodes landing exactly on their pixels.
    map_columns = np.interp(np.arange(x0, x1), columns, np.arange(len(columns))).astype(np.float32)
    map_rows = np.interp(np.arange(y0, y1), rows, np.arange(len(rows))).astype(np.float32)
    grid_x, grid_y = np.meshgrid(map_columns, map_rows)
    dense = cv2.remap(coarse, grid_x, grid_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    pixels_x, pixels_y = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    return DenseWarp((height, width), (x0, y0, x1, y1), pixels_x + dense[..., 0], pixels_y + dense[..., 1])
