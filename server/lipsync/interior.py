"""The inside of an opened mouth: teeth and tongue borrowed from the plate's most open frame so far.

A warp can stretch lips apart but cannot invent what is behind them. Each frame the
plate shows is considered as a donor; the most open one (inner-lip gap over mouth
width) keeps a patch around its mouth. When a frame must open wider than the plate
does there, the donor's inner mouth is mapped onto the new inner-lip outline by the
affine fit of the two outlines. Until any frame has shown an open mouth, the inside
is a dark shade of the lips' own colour (no teeth), which the closing note says.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .mouth import inner_gap, mouth_width

__all__ = ["MouthInterior"]

INNER = tuple(range(60, 68))
OUTER = tuple(range(48, 60))
MIN_DONOR_RATIO = 0.12  # a frame is a donor when its lips part by at least this much of the mouth width
DARK_INSIDE = 0.18  # the synthesised inside: the lips' mean colour times this
SEAL_BAND = 0.05  # sealing closed lips repaints a band this fraction of the mouth width around the lip line
CONTACT_SHADE = 0.35  # how much darker the line where closed lips meet is


@dataclass(frozen=True)
class _Donor:
    patch: np.ndarray  # (h, w, 3) float32, a copy of the image around the mouth
    inner: np.ndarray  # (8, 2) inner-lip points in patch pixels
    ratio: float


class MouthInterior:
    """Remembers the most open mouth seen so far and paints it into a wider-opened one."""

    def __init__(self) -> None:
        self.donor: _Donor | None = None

    def consider(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        """Keep this frame's mouth if it is the most open so far (and open enough to show its inside)."""
        ratio = inner_gap(landmarks) / max(mouth_width(landmarks), 1.0)
        if ratio < MIN_DONOR_RATIO or (self.donor is not None and ratio <= self.donor.ratio):
            return
        margin = 0.25 * mouth_width(landmarks)
        low = np.floor(landmarks[list(OUTER)].min(0) - margin).astype(int).clip(0)
        high = np.ceil(landmarks[list(OUTER)].max(0) + margin).astype(int)
        high = np.minimum(high, (image.shape[1], image.shape[0]))
        patch = np.array(image[low[1] : high[1], low[0] : high[0], :3], dtype=np.float32)
        self.donor = _Donor(patch, landmarks[list(INNER)] - low, ratio)

    def paint(self, region: np.ndarray, origin: tuple[int, int], source: np.ndarray, moved: np.ndarray) -> np.ndarray:
        """``region`` (the warped roi at ``origin``) with the inside of the ``moved`` mouth redrawn.

        ``source`` is the frame's own landmarks. Opening wider than the plate does fills the new
        inside, fading with how much of the opening the plate already shows; closing further than
        the plate does seals the lips over whatever inside the warp squeezed between them.
        """
        target_gap, source_gap = inner_gap(moved), inner_gap(source)
        inner = moved[list(INNER)] - np.asarray(origin, np.float32)
        if target_gap >= 1.5 and target_gap > source_gap:
            alpha = _polygon_alpha(region.shape[:2], inner, max(1, int(round(target_gap * 0.08))))
            alpha *= 1.0 - source_gap / target_gap
            inside = self._inside(region, inner, moved, origin, (region.shape[1], region.shape[0]))
            return region + (inside - region) * alpha[..., None]
        if source_gap >= 1.5 and target_gap < source_gap:
            return _seal(region, inner, mouth_width(moved), 1.0 - target_gap / source_gap)
        return region

    def _inside(self, region: np.ndarray, inner: np.ndarray, moved: np.ndarray, origin: tuple[int, int],
                size: tuple[int, int]) -> np.ndarray:
        if self.donor is None:
            lips = np.rint(moved[list(OUTER)] - np.asarray(origin, np.float32)).astype(np.int32)
            mask = np.zeros(region.shape[:2], np.uint8)
            cv2.fillPoly(mask, [lips], 1)
            colour = region[mask.astype(bool)].mean(0) if mask.any() else region.reshape(-1, 3).mean(0)
            return np.broadcast_to(colour * DARK_INSIDE, region.shape).astype(np.float32)
        # Least-squares affine from the donor's inner-lip outline to the new one.
        design = np.hstack([self.donor.inner, np.ones((len(inner), 1), np.float32)]).astype(np.float64)
        affine = np.linalg.lstsq(design, inner.astype(np.float64), rcond=None)[0].T
        return cv2.warpAffine(self.donor.patch, affine, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _polygon_alpha(shape: tuple[int, int], polygon: np.ndarray, soften: int) -> np.ndarray:
    """An anti-aliased filled polygon, blurred by a (2 * soften + 1) kernel."""
    alpha = np.zeros(shape, np.float32)
    cv2.fillPoly(alpha, [np.rint(polygon * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
    return cv2.GaussianBlur(alpha, (2 * soften + 1, 2 * soften + 1), 0)


def _seal(region: np.ndarray, inner: np.ndarray, width: float, strength: float) -> np.ndarray:
    """Lips pressed together: the band between the inner lip lines filled from the lips around it, with a dark contact line."""
    thickness = max(2, int(round(SEAL_BAND * width)))
    low = np.floor(inner.min(0)).astype(int) - 3 * thickness
    high = np.ceil(inner.max(0)).astype(int) + 3 * thickness
    x0, y0 = max(0, low[0]), max(0, low[1])
    x1, y1 = min(region.shape[1], high[0]), min(region.shape[0], high[1])
    if x1 - x0 < 4 or y1 - y0 < 4:
        return region
    local = inner - (x0, y0)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.rint(local).astype(np.int32)], 255)
    cv2.polylines(mask, [np.rint(local).astype(np.int32)], True, 255, thickness)
    patch = np.ascontiguousarray(region[y0:y1, x0:x1])
    patch_u8 = (np.clip(patch, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    filled = cv2.inpaint(patch_u8, mask, max(3, thickness), cv2.INPAINT_TELEA).astype(np.float32) / 255.0
    contact = np.zeros(mask.shape, np.float32)
    seam = (local[[0, 1, 2, 3, 4]] + local[[0, 7, 6, 5, 4]]) / 2.0  # the line the closed lips meet on
    cv2.polylines(contact, [np.rint(seam * 4).astype(np.int32)], False, 1.0, 1, lineType=cv2.LINE_AA, shift=2)
    filled *= 1.0 - CONTACT_SHADE * cv2.GaussianBlur(contact, (3, 3), 0)[..., None]
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (2 * thickness + 1, 2 * thickness + 1), 0) * strength
    output = region.copy()
    output[y0:y1, x0:x1] = patch + (filled - patch) * alpha[..., None]
    return output
