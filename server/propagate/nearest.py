"""Exact nearest neighbour among a few thousand guide-feature vectors, by squared L2 distance.

The candidates are sorted by their projection on their principal axis and stored in
chunks of ``CHUNK``, feature-major within a chunk, so one chunk's distances vectorize.
A query scans chunks outward from its own projection and stops on each side where the
projection gap alone exceeds the best distance so far (a projection on a unit axis never
exceeds the distance), so it reads a small part of the candidates and never a score
matrix. Distances are ``sum((q - c) ** 2)`` in float32, ties go to the lowest candidate
index, as an argmin would; the kernel holds no lock on Python (``nogil``) and uses no
threads of its own, so a thread pool runs it side by side with the same bytes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["DIMENSIONS", "NearestSearch"]

DIMENSIONS = 13  # the kernel's distance is written out feature by feature: numba vectorizes the candidates only then
CHUNK = 32  # candidates a query measures at a time
_FAR = 1e18  # features of the padding that fills the last chunk: never nearest, squares still finite in float32
_SLACK = 1e-5  # relative margin on the stopping bound, far above float32 rounding of a 13-term sum
_FLOOR = 1e-12  # absolute margin on it: twins of the best (gap 0) differ in projection by float64 rounding only


class NearestSearch:
    """The candidates ``(N, DIMENSIONS)``, arranged once for any number of queries."""

    def __init__(self, candidates: np.ndarray):
        candidates = np.asarray(candidates, np.float32)
        count, dimensions = candidates.shape
        if dimensions != DIMENSIONS or not count:
            raise ValueError(f"need at least one candidate of {DIMENSIONS} features, got {candidates.shape}")
        wide = candidates.astype(np.float64)
        self._mean = wide.mean(axis=0)
        centred = wide - self._mean
        self._axis = np.linalg.eigh(centred.T @ centred)[1][:, -1]
        projection = centred @ self._axis
        order = np.argsort(projection, kind="stable")
        padded = -(-count // CHUNK) * CHUNK
        table = np.full((padded, DIMENSIONS), _FAR, np.float32)
        table[:count] = candidates[order]
        self._table = np.ascontiguousarray(table.reshape(-1, CHUNK, DIMENSIONS).transpose(0, 2, 1)).reshape(-1)
        self._keys = np.full(padded, np.inf)
        self._keys[:count] = projection[order]
        self._order = np.full(padded, count, np.int64)
        self._order[:count] = order

    def __call__(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each query's nearest candidate and its squared distance, as (M,) int64 and (M,) float32."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        nearest = np.empty(len(queries), np.int64)
        squared = np.empty(len(queries), np.float32)
        _search(queries, self._table, self._keys, self._order, self._mean, self._axis, nearest, squared)
        return nearest, squared


@njit(nogil=True, cache=True, inline="always")
def _chunk_distances(queries, query, table, start, out):
    q0, q1, q2, q3, q4, q5, q6 = (queries[query, 0], queries[query, 1], queries[query, 2], queries[query, 3],
                                  queries[query, 4], queries[query, 5], queries[query, 6])
    q7, q8, q9, q10, q11, q12 = (queries[query, 7], queries[query, 8], queries[query, 9], queries[query, 10],
                                 queries[query, 11], queries[query, 12])
    for lane in range(CHUNK):
        at = start + lane
        t0, t1, t2 = q0 - table[at], q1 - table[at + CHUNK], q2 - table[at + 2 * CHUNK]
        t3, t4, t5 = q3 - table[at + 3 * CHUNK], q4 - table[at + 4 * CHUNK], q5 - table[at + 5 * CHUNK]
        t6, t7, t8 = q6 - table[at + 6 * CHUNK], q7 - table[at + 7 * CHUNK], q8 - table[at + 8 * CHUNK]
        t9, t10, t11 = q9 - table[at + 9 * CHUNK], q10 - table[at + 10 * CHUNK], q11 - table[at + 11 * CHUNK]
        t12 = q12 - table[at + 12 * CHUNK]
        out[lane] = ((((((((((((t0 * t0 + t1 * t1) + t2 * t2) + t3 * t3) + t4 * t4) + t5 * t5) + t6 * t6) + t7 * t7)
                          + t8 * t8) + t9 * t9) + t10 * t10) + t11 * t11) + t12 * t12)


@njit(nogil=True, cache=True)
def _search(queries, table, keys, order, mean, axis, nearest, squared):
    chunks = len(keys) // CHUNK
    distances = np.empty(CHUNK, np.float32)
    bits = distances.view(np.int32)  # non-negative floats order as their bit patterns: an integer min vectorizes
    for query in range(len(queries)):
        key = 0.0
        for feature in range(DIMENSIONS):
            key += (queries[query, feature] - mean[feature]) * axis[feature]
        first = min(np.searchsorted(keys, key) // CHUNK, chunks - 1)
        best_bits, best, index = np.int32(0x7F800000), np.float32(np.inf), 0
        chunk, step = first, 1
        while 0 <= chunk:
            if chunk == chunks:
                chunk, step = first - 1, -1
                continue
            if chunk != first:
                gap = keys[chunk * CHUNK] - key if step > 0 else key - keys[chunk * CHUNK + CHUNK - 1]
                if gap > 0.0 and gap * gap > best * (1.0 + _SLACK) + _FLOOR:
                    if step < 0:
                        break
                    chunk, step = first - 1, -1
                    continue
            _chunk_distances(queries, query, table, chunk * CHUNK * DIMENSIONS, distances)
            low = bits[0]
            for lane in range(1, CHUNK):
                low = min(low, bits[lane])
            if low <= best_bits:
                for lane in range(CHUNK):
                    if bits[lane] == low and (low < best_bits or order[chunk * CHUNK + lane] < index):
                        best_bits, best, index = low, distances[lane], order[chunk * CHUNK + lane]
            chunk += step
        nearest[query] = index
        squared[query] = best
