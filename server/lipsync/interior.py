"""The inside of an opened mouth: teeth and tongue borrowed from the plate's most open frame so far.

A warp can stretch lips apart but cannot invent what is behind them. Each frame the
plate shows is considered as a donor; the most open one (inner-lip gap over mouth
width) keeps a patch around its mouth. When a frame must open wider than the plate
does there, the donor's inside is carried in two layers, as a real mouth opens: the
upper teeth with the upper lip and the lower teeth with the lower lip (each by the
similarity fit of the donor's lip line onto the new one), the dark of the donor's
mouth between them. Until any frame has shown an open mouth, the inside is a dark
shade of the lips' own colour (no teeth).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from framebridge.server.faces import fit_similarity

from .mouth import inner_gap, mouth_width

__all__ = ["MouthInterior"]

INNER = tuple(range(60, 68))
UPPER_LINE = [0, 1, 2, 3, 4]  # positions in INNER of the upper inner lip, corner to corner
LOWER_LINE = [0, 7, 6, 5, 4]  # and of the lower one, in the same direction
OUTER = tuple(range(48, 60))
MIN_DONOR_RATIO = 0.12  # a frame is a donor when its lips part by at least this much of the mouth width
DARK_INSIDE = (0.35, 0.12)  # the synthesised inside: the lips' mean colour times this, at the lips and deepest
SEAL_BAND = 0.05  # the reach of the lip colour filled over a squeezed inside, as a fraction of the mouth width
CONTACT_SHADE = 0.35  # how much darker the line where closed lips meet is


@dataclass(frozen=True)
class _Donor:
    patch: np.ndarray  # (h, w, 3) float32, a copy of the image around the mouth
    inner: np.ndarray  # (8, 2) inner-lip points in patch pixels
    inside: np.ndarray  # (h, w) float32 0..1, where the patch shows the inside of the mouth
    dark: np.ndarray  # (3,) the colour of the donor's mouth cavity
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
        inner = (landmarks[list(INNER)] - low).astype(np.float32)
        inside = _polygon_alpha(patch.shape[:2], inner, 0)
        shown = patch[inside > 0.5]
        luminance = shown @ np.array([0.299, 0.587, 0.114], np.float32)
        dark = shown[luminance <= np.percentile(luminance, 10)].mean(0)
        self.donor = _Donor(patch, inner, inside, dark.astype(np.float32), ratio)

    def paint(self, region: np.ndarray, origin: tuple[int, int], source: np.ndarray, moved: np.ndarray,
              shown_inside: np.ndarray) -> np.ndarray:
        """``region`` (the warped roi at ``origin``) with the inside of the ``moved`` mouth redrawn.

        ``source`` is the frame's own landmarks; ``shown_inside`` (roi-sized, 0..1) is where the warped
        region shows what was inside the plate's own mouth. That inside left outside the new opening
        (teeth squeezed between closing lips) is sealed over with lip; an opening wider than the plate's
        is filled with the borrowed inside where the warp only stretched lip into it.
        """
        target_gap, source_gap = inner_gap(moved), inner_gap(source)
        inner = moved[list(INNER)] - np.asarray(origin, np.float32)
        soften = max(1, int(round(max(target_gap, 2.0) * 0.08)))
        opening = _polygon_alpha(region.shape[:2], inner, soften) if target_gap >= 1.5 else np.zeros(region.shape[:2], np.float32)
        leaked = shown_inside * (1.0 - opening)
        if float(leaked.max(initial=0.0)) > 0.05:
            region = _seal(region, leaked, inner, mouth_width(moved), closed=target_gap < 1.5)
        if target_gap >= 1.5 and target_gap > source_gap:
            alpha = opening * np.maximum(1.0 - shown_inside, 1.0 - source_gap / target_gap)
            inside = self._inside(region, inner, moved, origin, (region.shape[1], region.shape[0]))
            region = region + (inside - region) * alpha[..., None]
        return region

    def _inside(self, region: np.ndarray, inner: np.ndarray, moved: np.ndarray, origin: tuple[int, int],
                size: tuple[int, int]) -> np.ndarray:
        if self.donor is None:
            lips = np.rint(moved[list(OUTER)] - np.asarray(origin, np.float32)).astype(np.int32)
            mask = np.zeros(region.shape[:2], np.uint8)
            cv2.fillPoly(mask, [lips], 1)
            colour = region[mask.astype(bool)].mean(0) if mask.any() else region.reshape(-1, 3).mean(0)
            opening = np.zeros(region.shape[:2], np.uint8)
            cv2.fillPoly(opening, [np.rint(inner).astype(np.int32)], 1)
            depth = cv2.distanceTransform(opening, cv2.DIST_L2, 3)
            depth /= max(float(depth.max()), 1.0)
            shade = DARK_INSIDE[0] + (DARK_INSIDE[1] - DARK_INSIDE[0]) * np.sqrt(depth)
            return (shade[..., None] * colour[None, None, :]).astype(np.float32)
        donor = self.donor
        width, height = size
        result = np.broadcast_to(donor.dark, region.shape).astype(np.float32).copy()
        upper_share = _upper_share(inner, (width, height))
        for line, share in ((UPPER_LINE, upper_share), (LOWER_LINE, 1.0 - upper_share)):
            carry = fit_similarity(donor.inner[line], inner[line])
            matrix = np.hstack([carry.linear, np.asarray(carry.translation)[:, None]])
            layer = cv2.warpAffine(donor.patch, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            shown = cv2.warpAffine(donor.inside, matrix, size, flags=cv2.INTER_LINEAR) * share
            result += (layer - result) * shown[..., None]
        return result


def _upper_share(inner: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) 1 nearer the upper inner lip than the lower one, 0 nearer the lower, blended across the middle."""
    width, height = size
    origin = (inner[0] + inner[4]) / 2.0
    axis_x = (inner[4] - inner[0]) / max(float(np.linalg.norm(inner[4] - inner[0])), 1e-6)
    axis_y = np.array([-axis_x[1], axis_x[0]])
    if np.dot(inner[LOWER_LINE].mean(0) - inner[UPPER_LINE].mean(0), axis_y) < 0:
        axis_y = -axis_y
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    along = (columns - origin[0]) * axis_x[0] + (rows - origin[1]) * axis_x[1]
    across = (columns - origin[0]) * axis_y[0] + (rows - origin[1]) * axis_y[1]
    local = np.stack([(inner - origin) @ axis_x, (inner - origin) @ axis_y], axis=1)

    def line_at(line: list[int]) -> np.ndarray:
        order = np.argsort(local[line, 0])
        return np.interp(along, local[line, 0][order], local[line, 1][order])

    upper, lower = line_at(UPPER_LINE), line_at(LOWER_LINE)
    middle = (upper + lower) / 2.0
    blend = np.maximum((lower - upper) * 0.15, 1.0)
    return np.clip(0.5 - (across - middle) / (2.0 * blend), 0.0, 1.0).astype(np.float32)


def _polygon_alpha(shape: tuple[int, int], polygon: np.ndarray, soften: int) -> np.ndarray:
    """An anti-aliased filled polygon, blurred by a (2 * soften + 1) kernel."""
    alpha = np.zeros(shape, np.float32)
    cv2.fillPoly(alpha, [np.rint(polygon * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
    return cv2.GaussianBlur(alpha, (2 * soften + 1, 2 * soften + 1), 0)


def _seal(region: np.ndarray, leaked: np.ndarray, inner: np.ndarray, width: float, closed: bool) -> np.ndarray:
    """Lip over the plate's inside where it shows outside the new opening, filled in from the lips around it;
    closed lips also get a darker line where they meet."""
    thickness = max(2, int(round(SEAL_BAND * width)))
    rows, columns = np.nonzero(leaked > 0.05)
    x0, y0 = max(0, columns.min() - 3 * thickness), max(0, rows.min() - 3 * thickness)
    x1, y1 = min(region.shape[1], columns.max() + 3 * thickness + 1), min(region.shape[0], rows.max() + 3 * thickness + 1)
    local_leak = leaked[y0:y1, x0:x1]
    mask = cv2.dilate((local_leak > 0.05).astype(np.uint8) * 255, np.ones((3, 3), np.uint8))
    patch = np.ascontiguousarray(region[y0:y1, x0:x1])
    patch_u8 = (np.clip(patch, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    filled = cv2.inpaint(patch_u8, mask, max(3, thickness), cv2.INPAINT_TELEA).astype(np.float32) / 255.0
    if closed:
        contact = np.zeros(mask.shape, np.float32)
        seam = (inner[[0, 1, 2, 3, 4]] + inner[[0, 7, 6, 5, 4]]) / 2.0 - (x0, y0)  # where the closed lips meet
        cv2.polylines(contact, [np.rint(seam * 4).astype(np.int32)], False, 1.0, 1, lineType=cv2.LINE_AA, shift=2)
        filled *= 1.0 - CONTACT_SHADE * cv2.GaussianBlur(contact, (3, 3), 0)[..., None]
        local_leak = np.maximum(local_leak, cv2.GaussianBlur(contact, (5, 5), 0))
    alpha = np.clip(cv2.GaussianBlur(np.maximum(local_leak, mask / 255.0 * 0.999), (3, 3), 0), 0.0, 1.0)
    output = region.copy()
    output[y0:y1, x0:x1] = patch + (filled - patch) * alpha[..., None]
    return output
