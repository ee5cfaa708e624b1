"""The restyle cache stays within its budget, least recently used first, and `framebridge cache` shows and clears it."""

from __future__ import annotations

import os

import numpy as np

from framebridge.server.cli import main
from framebridge.server.restyle.cache import ResultCache, cache_entries

ENTRY = {"beauty": np.zeros((64, 64, 3), np.float32)}  # 49 kB on disk


def put_at(cache, key, when):
    cache.put(key, ENTRY)
    for path in cache.folder.glob(f"*/{key}.*"):
        os.utime(path, (when, when))


def test_past_its_budget_the_cache_deletes_the_least_recently_used_entries(tmp_path):
    entry_bytes = 64 * 64 * 3 * 4 + 128
    cache = ResultCache(tmp_path, "restyle", budget_bytes=int(3.5 * entry_bytes))
    put_at(cache, "aa" + "1" * 62, 1000)
    put_at(cache, "bb" + "2" * 62, 2000)
    put_at(cache, "cc" + "3" * 62, 3000)
    assert cache.get("aa" + "1" * 62, ("beauty",)) is not None  # a hit makes the oldest the most recent
    cache.put("dd" + "4" * 62, ENTRY)
    kept = {entry.key[:2] for entry in cache_entries(tmp_path)}
    assert kept == {"aa", "cc", "dd"}
    assert sum(entry.nbytes for entry in cache_entries(tmp_path)) <= 3.5 * entry_bytes


def test_threads_writing_at_once_keep_the_cache_within_its_budget(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    entry_bytes = 64 * 64 * 3 * 4 + 128
    cache = ResultCache(tmp_path, "propagate", budget_bytes=int(5.5 * entry_bytes))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda number: cache.put(f"{number:02d}" + "5" * 62, ENTRY), range(40)))
    assert sum(entry.nbytes for entry in cache_entries(tmp_path)) <= 5.5 * entry_bytes
    assert cache._usage == sum(entry.nbytes for entry in cache_entries(tmp_path))  # no write went uncounted


def test_the_budget_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMEBRIDGE_CACHE_MB", "0.1")
    cache = ResultCache(tmp_path, "restyle")
    for number in range(4):
        cache.put(f"{number:02d}" + "0" * 62, ENTRY)
    assert sum(entry.nbytes for entry in cache_entries(tmp_path)) <= 0.1 * (1 << 20)


def test_cache_command_shows_and_clears_the_cache(tmp_path, capsys):
    cache = ResultCache(tmp_path, "restyle")
    for number in range(3):
        cache.put(f"{number:02d}" + "0" * 62, ENTRY)
    assert main(["cache", "show", "--cache-dir", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert str(tmp_path) in shown and "3 entries" in shown and "restyle" in shown
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert "removed 3 entries" in capsys.readouterr().out
    assert cache_entries(tmp_path) == []
