"""Where each pixel of a frame was in a keyframe: coordinates carried along the render's motion.

A chain starts at a keyframe with the identity map and moves one frame at a
time, forward (along each frame's ``motion_backward``) or backward (along
``motion_forward``). Instead of warping the keyframe image frame after frame,
which blurs it a little more at every step, the chain composes the sampling
coordinates and the keyframe is sampled once, at the end, from wherever each
pixel came from: long spans stay sharp (the re-anchoring of EbSynth-like tools,
exact here because the motion is the renderer's).

A pixel stays trusted (``seen`` near 1) only while the motion is consistent
both ways, the depth agrees, its object id matches the keyframe's at the place
it came from, and it never left the frame.

Frame-to-frame tracing loses every pixel that was hidden for a while (the wall
behind an object that crossed it), although the keyframe saw it. With object
ids, :func:`step_chain` re-anchors such pixels directly to the keyframe: an
object's displacement to the keyframe is smooth, so where its traced pixels
stop, their displacement is carried into the lost ones (push-pull
interpolation within the object), and the pixel is trusted again if the
keyframe's render shows the same object there, looking the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from .sampling import mix, nearest, place

__all__ = ["Guides", "Chain", "KeyView", "start_chain", "step_chain", "trust"]


@dataclass(frozen=True)
class Guides:
    """What one frame contributes to chains: its motion both ways, depth and object ids (each may be absent)."""

    motion_backward: np.ndarray | None
    motion_forward: np.ndarray | None
    depth: np.ndarray | None
    object_index: np.ndarray | None


@dataclass(frozen=True)
class Chain:
    """Per pixel of frame ``frame``: its position in keyframe ``key`` and how far that can be trusted.

    ``seen`` (0..1) is the geometric trust; ``difference`` how far the render here looks from
    the keyframe's render at the place the pixel came from (largest channel difference, guide
    encoding), measured once per step for both re-anchoring and :func:`trust`.
    """

    key: int
    frame: int
    coords: np.ndarray      # (H, W, 2) float32 x, y in keyframe pixels
    seen: np.ndarray        # (H, W) float32
    difference: np.ndarray  # (H, W) float32


def start_chain(key: int, height: int, width: int) -> Chain:
    """The chain of a keyframe in its own frame: every pixel where it is, fully trusted."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return Chain(key, key, np.dstack([xs, ys]), np.ones((height, width), np.float32), np.zeros((height, width), np.float32))


@dataclass(frozen=True)
class KeyView:
    """What the render showed at a keyframe: object ids (or None) and display colours, for re-anchoring."""

    objects: np.ndarray | None
    look: np.ndarray


def step_chain(chain: Chain, frame: int, guides: Guides, from_guides: Guides, key: KeyView, render_look: np.ndarray,
               motion: np.ndarray, back_motion: np.ndarray | None, *, depth_tolerance: float) -> Chain:
    """Move ``chain`` from its frame to the adjacent ``frame``.

    ``motion`` takes each pixel of ``frame`` to its place in the chain's frame;
    ``back_motion`` is the chain frame's motion towards ``frame`` (for the
    two-way check); ``key`` is what the render showed at the keyframe and
    ``render_look`` the render's display colours at ``frame``.
    """
    height, width = chain.seen.shape
    coords, seen = np.empty((height, width, 2), np.float32), np.empty((height, width), np.float32)
    difference, lost = np.empty((height, width), np.float32), np.empty(height * width, np.int64)
    reanchoring = key.objects is not None and guides.object_index is not None
    depths = guides.depth is not None and from_guides.depth is not None
    key_objects, objects = (_given(ids if reanchoring else None, 2) for ids in (key.objects, guides.object_index))
    count = _carry(chain.coords, chain.seen, _given(back_motion, 3), back_motion is not None, _given(motion, 3),
                   _given(guides.depth if depths else None, 2), _given(from_guides.depth if depths else None, 2), depths,
                   np.float32(depth_tolerance), key_objects, objects, reanchoring, coords, seen, lost)
    lost = lost[:count]
    if reanchoring:
        _reanchor(coords, seen, lost, objects)
    _compare(_given(key.look, 3), coords, _given(render_look, 3), lost, key_objects, objects, np.float32(LOOK_TOLERANCE),
             seen, difference)
    return Chain(chain.key, frame, coords, seen, difference)


LIKENESS = (0.03, 0.10)  # guide-colour difference up to which the keyframe's look is fully trusted, and from which not at all


def trust(chain: Chain) -> np.ndarray:
    """The chain's trust in the keyframe's look for this frame: geometric trust, faded where the render changed.

    Render motion knows nothing of moving shadows, highlights or lighting: where the
    render here no longer looks as it did at the keyframe's place, the keyframe's
    look does not apply as painted. Evaluated afresh each frame, never carried, so a
    pixel a shadow passed over is trusted again once it has passed.
    """
    low, high = LIKENESS
    faded = np.subtract(high, chain.difference)
    faded /= high - low
    np.clip(faded, 0.0, 1.0, out=faded)
    faded *= chain.seen
    return faded


MIN_TRACED = 16  # traced pixels an object needs before its displacement is carried into its lost ones
LOOK_TOLERANCE = 0.08  # largest display-value difference between the render here and at the re-anchored place


BLOCK = 4  # the side of the blocks an object's displacement is averaged over before it is carried into lost pixels


def _reanchor(coords: np.ndarray, seen: np.ndarray, lost: np.ndarray, objects: np.ndarray) -> None:
    """The ``lost`` pixels (flat indices) of an object take the displacement of its traced ones (``coords`` changed in
    place): its traced pixels' displacements averaged over blocks of ``BLOCK`` x ``BLOCK`` (a displacement field is
    smooth within one object), pushed and pulled into the blocks without any, and read bilinearly at the lost pixels."""
    if not len(lost):
        return
    height, width = seen.shape
    ids = np.sort(_lost_objects(lost, objects))
    small = (max(1, height // BLOCK), max(1, width // BLOCK))
    weights = np.zeros((len(ids),) + small, np.float32)
    values = np.zeros((len(ids),) + small + (2,), np.float32)
    _traced_blocks(coords, seen, objects, ids, weights, values)
    usable = weights.sum(axis=(1, 2)) >= MIN_TRACED
    area = _block_area(height, width)
    for index in np.flatnonzero(usable):
        _push_pull(values[index], weights[index], area)
    _move_lost(coords, lost, objects, ids, values, usable)


@lru_cache(maxsize=4)
def _block_area(height: int, width: int) -> np.ndarray:
    """The pixels in each block of :func:`_traced_blocks` (the last row and column of blocks take the remainder)."""
    small = (max(1, height // BLOCK), max(1, width // BLOCK))
    rows = np.bincount(np.minimum(np.arange(height) // BLOCK, small[0] - 1), minlength=small[0])
    columns = np.bincount(np.minimum(np.arange(width) // BLOCK, small[1] - 1), minlength=small[1])
    area = np.outer(rows, columns).astype(np.float32)
    area.flags.writeable = False
    return area


def _push_pull(sums: np.ndarray, counts: np.ndarray, area: np.ndarray) -> None:
    """``sums`` (H, W, 2) of the displacements of ``counts`` traced pixels per block (of ``area`` pixels) turned, in
    place, into a displacement everywhere: the blocks' means where they have traced pixels, and where they have none
    the mean of a coarser level (blocks halved until each has some, each level the area mean of the one below), pulled
    back up bilinearly and mixed in by how little of a block was traced."""
    level = np.empty(counts.shape + (3,), np.float32)  # coverage-weighted displacement, coverage
    np.divide(sums, area[..., None], out=level[..., :2])
    np.divide(counts, area, out=level[..., 2])
    levels = [level]
    while min(level.shape[:2]) > 2 and (level[..., 2] <= 0.0).any():
        height, width = level.shape[:2]
        small = (max(1, height // 2), max(1, width // 2))
        level = _halved(level, *_overlaps(height, small[0]), *_overlaps(width, small[1]))
        levels.append(level)
    estimate = _pulled(level, np.zeros((1, 1, 2), np.float32), False)
    for finer in reversed(levels[:-1]):
        estimate = _pulled(finer, estimate, True)
    sums[...] = estimate


@lru_cache(maxsize=64)
def _overlaps(size: int, small: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``small`` cells spread evenly over ``size`` ones, as ``cv2.resize`` with ``INTER_AREA`` spreads them:
    the ones it covers and the share of it each covers (summing to 1), as (small, 4) arrays (the step is at most 3, so
    a cell covers at most 4). Read-only."""
    step = size / small
    low = np.arange(small)[:, None] * step
    cells = np.floor(low).astype(np.int64) + np.arange(4)
    shares = np.clip(np.minimum(cells + 1.0, low + step) - np.maximum(cells, low), 0.0, None) / step
    shares[cells >= size] = 0.0
    np.minimum(cells, size - 1, out=cells)
    for array in (cells, shares):
        array.flags.writeable = False
    return cells, shares.astype(np.float32)


@njit(nogil=True, cache=True)
def _halved(level, rows, row_shares, columns, column_shares):  # pragma: no cover (compiled)
    """The level resampled by area to ``len(rows)`` x ``len(columns)`` blocks, each from the cells :func:`_overlaps`
    gives."""
    coarse = np.zeros((len(rows), len(columns), 3), np.float32)
    for row in range(len(rows)):
        for i in range(4):
            y, y_share = rows[row, i], row_shares[row, i]
            if y_share == 0.0:
                continue
            for column in range(len(columns)):
                for j in range(4):
                    x, share = columns[column, j], y_share * column_shares[column, j]
                    if share == 0.0:
                        continue
                    for channel in range(3):
                        coarse[row, column, channel] += level[y, x, channel] * share
    return coarse


@njit(nogil=True, cache=True)
def _pulled(level, coarse, pull):  # pragma: no cover (compiled)
    """Each block's own mean displacement (0 where nothing was traced) and, where ``pull``, the ``coarse`` estimate
    read bilinearly (pixel centres aligned) mixed in by how little of the block was traced."""
    height, width = level.shape[0], level.shape[1]
    coarse_height, coarse_width = coarse.shape[0], coarse.shape[1]
    scale_y, scale_x = np.float32(coarse_height / height), np.float32(coarse_width / width)
    estimate = np.empty((height, width, 2), np.float32)
    for y in range(height):
        for x in range(width):
            coverage = max(level[y, x, 2], np.float32(1e-12))
            own_x, own_y = level[y, x, 0] / coverage, level[y, x, 1] / coverage
            if pull:
                trusted = min(coverage, np.float32(1.0))
                left, top, left_over, top_under, across, down = place(
                    (np.float32(x) + np.float32(0.5)) * scale_x - np.float32(0.5),
                    (np.float32(y) + np.float32(0.5)) * scale_y - np.float32(0.5), coarse_height, coarse_width)
                own_x = own_x * trusted + mix(coarse[top, left, 0], coarse[top, left_over, 0], coarse[top_under, left, 0],
                                              coarse[top_under, left_over, 0], across, down) * (np.float32(1.0) - trusted)
                own_y = own_y * trusted + mix(coarse[top, left, 1], coarse[top, left_over, 1], coarse[top_under, left, 1],
                                              coarse[top_under, left_over, 1], across, down) * (np.float32(1.0) - trusted)
            estimate[y, x, 0], estimate[y, x, 1] = own_x, own_y
    return estimate


_NONE = {2: np.zeros((1, 1), np.float32), 3: np.zeros((1, 1, 1), np.float32)}


def _given(array: np.ndarray | None, dimensions: int) -> np.ndarray:
    """``array`` as the kernels take it (contiguous float32), or a placeholder where it is absent."""
    return _NONE[dimensions] if array is None else np.ascontiguousarray(array, dtype=np.float32)


# The kernels sample with :mod:`.sampling`. No fastmath: NaN depths must fail the depth test as IEEE comparisons do.

@njit(nogil=True, cache=True)
def _carry(coords, seen, back_motion, two_way, motion, depth, previous_depth, depths, depth_tolerance, key_objects,
           objects, reanchoring, out_coords, out_seen, lost):  # pragma: no cover (compiled)
    """The chain carried to the next frame: ``coords`` and ``seen`` sampled where each pixel came from, ``seen`` kept
    where the pixel came from inside the frame, the motion agrees both ways, the depth matches and (``reanchoring``)
    the keyframe shows the same object where it takes its look from. The pixels no longer fully trusted go to
    ``lost`` (flat indices); their count is returned.

    The two-way test is Rerender-A-Video's / FRESCO's (as :mod:`..restyle.temporal`):
    ``|b + f(p + b)|^2 <= 0.01 (|b|^2 + |f(p + b)|^2) + 0.5``; depth within ``depth_tolerance``, relative.
    """
    height, width = seen.shape
    right, bottom = np.float32(width - 1), np.float32(height - 1)
    count = 0
    for y in range(height):
        for x in range(width):
            backward_x, backward_y = motion[y, x, 0], motion[y, x, 1]
            where_x, where_y = np.float32(x) + backward_x, np.float32(y) + backward_y
            valid = 0.0 <= where_x <= right and 0.0 <= where_y <= bottom
            left, top, left_over, top_under, across, down = place(where_x, where_y, height, width)
            from_x = mix(coords[top, left, 0], coords[top, left_over, 0], coords[top_under, left, 0],
                          coords[top_under, left_over, 0], across, down)
            from_y = mix(coords[top, left, 1], coords[top, left_over, 1], coords[top_under, left, 1],
                          coords[top_under, left_over, 1], across, down)
            trusted = mix(seen[top, left], seen[top, left_over], seen[top_under, left], seen[top_under, left_over],
                           across, down)
            if two_way and valid:
                forward_x = mix(back_motion[top, left, 0], back_motion[top, left_over, 0], back_motion[top_under, left, 0],
                                 back_motion[top_under, left_over, 0], across, down)
                forward_y = mix(back_motion[top, left, 1], back_motion[top, left_over, 1], back_motion[top_under, left, 1],
                                 back_motion[top_under, left_over, 1], across, down)
                round_x, round_y = backward_x + forward_x, backward_y + forward_y
                energy = backward_x * backward_x + backward_y * backward_y + forward_x * forward_x + forward_y * forward_y
                valid = round_x * round_x + round_y * round_y <= np.float32(0.01) * energy + np.float32(0.5)
            if depths and valid:
                here = depth[y, x]
                change = abs(nearest(previous_depth, min(max(where_x, np.float32(0.0)), right),
                                      min(max(where_y, np.float32(0.0)), bottom)) - here)
                valid = change <= max(abs(here), np.float32(1e-6)) * depth_tolerance
            if not valid:
                trusted = np.float32(0.0)
            if reanchoring and trusted != 0.0:
                if not (0.0 <= from_x <= right and 0.0 <= from_y <= bottom and nearest(key_objects, from_x, from_y) == objects[y, x]):
                    trusted = np.float32(0.0)
            out_coords[y, x, 0], out_coords[y, x, 1], out_seen[y, x] = from_x, from_y, trusted
            if reanchoring and trusted <= 0.99:
                lost[count] = y * width + x
                count += 1
    return count


@njit(nogil=True, cache=True)
def _compare(key_look, coords, look, lost, key_objects, objects, tolerance, seen, difference):  # pragma: no cover (compiled)
    """``difference``: the largest channel difference between ``look`` and the keyframe's ``key_look`` where each pixel
    takes its look from. A ``lost`` pixel (flat index) is trusted again (``seen`` 1) where that difference is within
    ``tolerance`` and the keyframe shows the pixel's object there."""
    height, width = difference.shape
    right, bottom = np.float32(width - 1), np.float32(height - 1)
    for y in range(height):
        for x in range(width):
            left, top, left_over, top_under, across, down = place(coords[y, x, 0], coords[y, x, 1], height, width)
            largest = np.float32(0.0)
            for channel in range(3):
                value = mix(key_look[top, left, channel], key_look[top, left_over, channel], key_look[top_under, left, channel],
                             key_look[top_under, left_over, channel], across, down)
                largest = max(largest, abs(value - look[y, x, channel]))
            difference[y, x] = largest
    for index in lost:
        y, x = index // width, index % width
        from_x, from_y = coords[y, x, 0], coords[y, x, 1]
        if (difference[y, x] <= tolerance and 0.0 <= from_x <= right and 0.0 <= from_y <= bottom
                and nearest(key_objects, from_x, from_y) == objects[y, x]):
            seen[y, x] = 1.0


@njit(nogil=True, cache=True)
def _traced_blocks(coords, seen, objects, ids, weights, values):  # pragma: no cover (compiled)
    """Per object of ``ids`` (ascending) and block: its traced pixels (``seen`` over 0.99) counted in ``weights`` and
    their displacements (``coords`` less the pixel's own place) summed in ``values``."""
    height, width = seen.shape
    count, small_height, small_width = weights.shape
    last, index = np.float32(np.nan), -1
    for y in range(height):
        row = min(y // BLOCK, small_height - 1)
        for x in range(width):
            if not seen[y, x] > 0.99:
                continue
            object_id = objects[y, x]
            if object_id != last:
                last, index = object_id, np.searchsorted(ids, object_id)
                if index >= count or ids[index] != object_id:
                    index = -1
            if index >= 0:
                column = min(x // BLOCK, small_width - 1)
                weights[index, row, column] += 1.0
                values[index, row, column, 0] += coords[y, x, 0] - np.float32(x)
                values[index, row, column, 1] += coords[y, x, 1] - np.float32(y)


@njit(nogil=True, cache=True)
def _lost_objects(lost, objects):  # pragma: no cover (compiled)
    """The object ids of the ``lost`` pixels, each once, in the order met."""
    flat = objects.reshape(-1)
    found = np.empty(16, np.float32)
    count, last = 0, np.float32(np.nan)
    for index in lost:
        object_id = flat[index]
        if object_id == last:
            continue
        last = object_id
        if object_id in found[:count]:
            continue
        if count == len(found):
            found = np.concatenate((found, np.empty(len(found), np.float32)))
        found[count] = object_id
        count += 1
    return found[:count]


@njit(nogil=True, cache=True)
def _move_lost(coords, lost, objects, ids, displacements, usable):  # pragma: no cover (compiled)
    """Each ``lost`` pixel of a ``usable`` object moved by its object's block ``displacements``, read bilinearly (block
    centres aligned, the edge blocks repeated beyond them)."""
    height, width = objects.shape
    small_height, small_width = displacements.shape[1:3]
    flat = objects.reshape(-1)
    scale_x, scale_y = np.float32(small_width / width), np.float32(small_height / height)
    last, index = np.float32(np.nan), -1
    for pixel in lost:
        object_id = flat[pixel]
        if object_id != last:
            last, index = object_id, np.searchsorted(ids, object_id)
        if not usable[index]:
            continue
        y, x = pixel // width, pixel % width
        left, top, left_over, top_under, across, down = place((np.float32(x) + np.float32(0.5)) * scale_x - np.float32(0.5),
                                                               (np.float32(y) + np.float32(0.5)) * scale_y - np.float32(0.5),
                                                               small_height, small_width)
        field = displacements[index]
        coords[y, x, 0] = np.float32(x) + mix(field[top, left, 0], field[top, left_over, 0], field[top_under, left, 0],
                                               field[top_under, left_over, 0], across, down)
        coords[y, x, 1] = np.float32(y) + mix(field[top, left, 1], field[top, left_over, 1], field[top_under, left, 1],
                                               field[top_under, left_over, 1], across, down)
