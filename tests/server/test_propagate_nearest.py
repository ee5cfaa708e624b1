"""The guided fill's exact nearest-neighbour search against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from framebridge.server.propagate.nearest import CHUNK, DIMENSIONS, NearestSearch


def brute_force(queries: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    distances = ((queries[:, None, :].astype(np.float64) - candidates[None].astype(np.float64)) ** 2).sum(axis=2)
    nearest = distances.argmin(axis=1)
    return nearest, distances[np.arange(len(queries)), nearest]


@pytest.mark.parametrize("count", [1, CHUNK - 1, CHUNK, 3000])
def test_the_nearest_candidate_is_the_brute_force_one(count):
    rng = np.random.default_rng(count)
    # Guide-like data: one strong direction (brightness) with spread around it, and far outliers among the queries.
    brightness = rng.random((count, 1), dtype=np.float32)
    candidates = (brightness + rng.normal(0, 0.05, (count, DIMENSIONS))).astype(np.float32)
    queries = np.concatenate([candidates[rng.integers(0, count, 500)] + rng.normal(0, 0.01, (500, DIMENSIONS)),
                              rng.normal(0, 2.0, (50, DIMENSIONS))]).astype(np.float32)
    nearest, squared = NearestSearch(candidates)(queries)
    expected, expected_squared = brute_force(queries, candidates)
    np.testing.assert_array_equal(nearest, expected)
    np.testing.assert_allclose(squared, expected_squared, rtol=1e-5, atol=1e-7)
    assert nearest.dtype == np.int64 and squared.dtype == np.float32


def test_ties_go_to_the_lowest_candidate_index():
    rng = np.random.default_rng(7)
    distinct = rng.random((40, DIMENSIONS), dtype=np.float32)
    # Every candidate four times over, the copies far apart in index and in different chunks.
    candidates = np.concatenate([distinct[::-1], distinct, distinct[::-1], distinct])
    nearest, squared = NearestSearch(candidates)(distinct)
    np.testing.assert_array_equal(nearest, np.arange(39, -1, -1))
    np.testing.assert_array_equal(squared, 0.0)
    same = NearestSearch(np.repeat(distinct[:1], 100, axis=0))
    nearest, _ = same(rng.random((20, DIMENSIONS), dtype=np.float32))
    np.testing.assert_array_equal(nearest, 0)
    # A query equidistant from two distinct candidates takes the lower index.
    pair = np.zeros((2, DIMENSIONS), np.float32)
    pair[0, 0], pair[1, 0] = 1.0, -1.0
    nearest, squared = NearestSearch(pair)(np.zeros((1, DIMENSIONS), np.float32))
    assert nearest[0] == 0 and squared[0] == 1.0


def test_the_same_candidates_answer_the_same_for_any_split_of_the_queries():
    rng = np.random.default_rng(8)
    search = NearestSearch(rng.random((777, DIMENSIONS), dtype=np.float32))
    queries = rng.random((300, DIMENSIONS), dtype=np.float32)
    whole = search(queries)
    parts = [search(queries[start:start + 37]) for start in range(0, 300, 37)]
    np.testing.assert_array_equal(whole[0], np.concatenate([part[0] for part in parts]))
    np.testing.assert_array_equal(whole[1], np.concatenate([part[1] for part in parts]))


def test_candidates_of_another_dimension_are_refused():
    with pytest.raises(ValueError, match="13 features"):
        NearestSearch(np.zeros((5, 12), np.float32))
    with pytest.raises(ValueError):
        NearestSearch(np.zeros((0, DIMENSIONS), np.float32))


def test_a_query_that_measures_nothing_still_names_a_candidate():
    rng = np.random.default_rng(9)
    queries = rng.random((3, DIMENSIONS), dtype=np.float32)
    queries[:, 4] = np.nan
    nearest, _ = NearestSearch(rng.random((100, DIMENSIONS), dtype=np.float32))(queries)
    assert ((nearest >= 0) & (nearest < 100)).all()


def test_twins_of_the_query_across_a_chunk_boundary_go_to_the_lower_index():
    wrong = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        direction = rng.normal(size=DIMENSIONS)
        steps = np.concatenate([np.linspace(-1, -0.5, CHUNK - 1), np.linspace(0.5, 1, 40)])
        candidates = (steps[:, None] * direction / np.linalg.norm(direction)
                      + rng.normal(0, 0.01, (len(steps), DIMENSIONS))).astype(np.float32)
        twin = rng.normal(0, 0.01, DIMENSIONS).astype(np.float32)
        # Sorted on the principal axis, the twins (indices 10 and 50) sit either side of the first chunk's end.
        candidates = np.insert(np.insert(candidates, 10, twin, axis=0), 50, twin, axis=0)
        nearest, squared = NearestSearch(candidates)(twin[None])
        assert squared[0] == 0.0
        wrong += nearest[0] != 10
    assert wrong == 0
