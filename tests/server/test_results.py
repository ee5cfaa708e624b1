"""Results kept for a client until acknowledged: memory up to a budget, then disk."""

from __future__ import annotations

import numpy as np

from framebridge.protocol.buffers import describe
from framebridge.server.results import ResultStore


def result(frame: int, value: float):
    return [describe("beauty", np.full((8, 8, 4), value, np.float32), frame), describe("depth", np.full((8, 8), frame, np.float16), frame)]


def test_results_beyond_the_budget_spill_to_disk_and_read_back_identical(tmp_path):
    store = ResultStore(tmp_path / "job", memory_budget=2 * 8 * 8 * 4 * 4)
    originals = {frame: result(frame, frame * 0.5) for frame in range(1, 6)}
    for frame, described in originals.items():
        store.put(frame, described, {"frame": frame})
    spilled = sorted(path.name for path in (tmp_path / "job").iterdir())
    assert spilled and all(name.endswith(".raw") for name in spilled)
    for frame, described in originals.items():
        back, meta = store.get(frame)
        assert meta == {"frame": frame}
        for (descriptor, array), (expected_descriptor, expected) in zip(back, described):
            assert descriptor == expected_descriptor and descriptor.digest == expected_descriptor.digest
            assert array.tobytes() == expected.tobytes()


def test_acknowledged_results_are_dropped_from_memory_and_disk(tmp_path):
    store = ResultStore(tmp_path / "job", memory_budget=0)
    for frame in (1, 2, 3):
        store.put(frame, result(frame, 1.0), {})
    store.drop([1, 2])
    assert store.frames() == [3]
    assert sorted(path.name for path in (tmp_path / "job").iterdir()) == ["3.0.raw", "3.1.raw"]
    assert store.get(1) is None
    store.clear()
    assert not (tmp_path / "job").exists()
