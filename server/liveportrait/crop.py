"""The square crop around a face that LivePortrait sees, and the way back to the full image.

The crop is LivePortrait's: a square aligned to the face's own axis (eye centre to mouth
centre from the 68 landmarks), ``scale`` times the landmarks' extent across that axis,
moved ``vertical_shift`` of its size along it (negative is up, to take in the forehead).
Sources use 2.3 / -0.125, driving frames 2.2 / -0.1.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["DRIVING_CROP", "SOURCE_CROP", "Crop", "CropRule", "Window", "crop_image", "face_crop", "image_window", "oval_matte", "to_image"]


@dataclass(frozen=True)
class CropRule:
    """How big a square to take around the landmarks, and how far to move it along the face's axis."""

    scale: float
    vertical_shift: float


SOURCE_CROP = CropRule(2.3, -0.125)
DRIVING_CROP = CropRule(2.2, -0.1)
_MAX_EDGE = 0.3  # the matte's ramp in oval radii; the oval plus this stays inside the source crop


@dataclass(frozen=True)
class Crop:
    """A similarity transform from image pixels to a ``size`` x ``size`` crop (pixel centres at integers)."""

    to_crop: np.ndarray  # (2, 3) float64
    size: int

    @property
    def to_image(self) -> np.ndarray:
        """The inverse transform, crop pixels to image pixels (2, 3)."""
        return cv2.invertAffineTransform(self.to_crop)

    def resized(self, size: int) -> "Crop":
        """The same square at another resolution (e.g. the generator's 512 output for a 256 input)."""
        factor = size / self.size
        matrix = self.to_crop * factor
        matrix[:, 2] += (factor - 1) / 2  # keep pixel centres aligned: (p + 0.5) * factor - 0.5
        return Crop(matrix, size)

    def points_to_crop(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) image pixel positions in crop pixels."""
        return np.asarray(points, np.float64) @ self.to_crop[:, :2].T + self.to_crop[:, 2]

    def points_to_image(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) crop pixel positions in image pixels."""
        back = self.to_image
        return np.asarray(points, np.float64) @ back[:, :2].T + back[:, 2]


def face_crop(landmarks: np.ndarray, size: int, rule: CropRule) -> Crop:
    """The crop of a face with dlib's 68 landmarks, upright along the eyes-to-mouth axis."""
    points = np.asarray(landmarks, np.float64)
    eyes = (points[[36, 39]].mean(0) + points[[42, 45]].mean(0)) / 2
    mouth = (points[48] + points[54]) / 2
    down = mouth - eyes
    length = np.linalg.norm(down)
    down = down / length if length > 1e-3 else np.array([0.0, 1.0])
    across = np.array([down[1], -down[0]])
    axes = np.stack([across, down])  # rows: the crop's x and y axes in image space
    mean = points.mean(0)
    local = (points - mean) @ axes.T
    low, high = local.min(0), local.max(0)
    side = float((high - low).max() * rule.scale)
    centre = mean + ((low + high) / 2) @ axes + down * rule.vertical_shift * side
    factor = size / side
    linear = factor * axes
    to_crop = np.hstack([linear, (size / 2 - linear @ centre)[:, None]])
    # The square's edges sit at pixel edges: crop pixel centres are at integer + 0.5 in the continuous frame.
    to_crop[:, 2] -= 0.5
    return Crop(to_crop, size)


def crop_image(image: np.ndarray, crop: Crop) -> np.ndarray:
    """The crop's pixels, bilinear, the image's border repeated where the square leaves the frame."""
    return cv2.warpAffine(image, crop.to_crop, (crop.size, crop.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class Window:
    """A rectangle of image pixels, ``[x0, x1) x [y0, y1)``: where a crop lands, so only that part is touched."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def rows(self) -> slice:
        return slice(self.y0, self.y1)

    @property
    def columns(self) -> slice:
        return slice(self.x0, self.x1)

    @property
    def origin(self) -> np.ndarray:
        return np.array([self.x0, self.y0], np.float64)


def image_window(crop: Crop, height: int, width: int) -> Window:
    """The image pixels the crop's square covers (its bounding box, clipped to the image)."""
    corners = crop.points_to_image(np.array([[-0.5, -0.5], [crop.size - 0.5, -0.5], [-0.5, crop.size - 0.5], [crop.size - 0.5, crop.size - 0.5]]))
    low = np.floor(corners.min(0)).astype(int) - 1
    high = np.ceil(corners.max(0)).astype(int) + 2
    return Window(max(int(low[0]), 0), max(int(low[1]), 0), min(int(high[0]), width), min(int(high[1]), height))


def to_image(crop_pixels: np.ndarray, crop: Crop, window: Window) -> np.ndarray:
    """Crop-space pixels placed back into the image's ``window`` (zero where the square does not reach)."""
    matrix = crop.to_image.copy()
    matrix[:, 2] -= window.origin
    size = (max(window.x1 - window.x0, 0), max(window.y1 - window.y0, 0))
    return cv2.warpAffine(crop_pixels, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def oval_matte(size: int, feather: float, rule: CropRule = SOURCE_CROP) -> np.ndarray:
    """(size, size) float32 paste-back mask in crop space: 1 over an upright oval holding the face and forehead,
    falling to exactly 0 over ``feather`` of the face's size outside it (never reaching the crop's border).
    """
    face = 1.0 / rule.scale  # the landmarks' extent as a fraction of the crop
    centre_y = -rule.vertical_shift - 0.075  # the landmarks' centre, raised to take in the forehead
    radius_x, radius_y = 0.62 * face, 0.78 * face
    coordinates = (np.arange(size, dtype=np.float64) + 0.5) / size - 0.5
    y, x = np.meshgrid(coordinates, coordinates, indexing="ij")
    radius = np.hypot(x / radius_x, (y - centre_y) / radius_y)
    edge = min(max(float(feather), 1e-3) * face / radius_x, _MAX_EDGE)
    matte = np.clip((1.0 + edge - radius) / edge, 0.0, 1.0)
    return (matte * matte * (3 - 2 * matte)).astype(np.float32)  # smoothstep: no visible ring where the ramp ends
