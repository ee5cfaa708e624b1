"""The server keeps freed frame buffers for the next frame instead of faulting fresh pages in."""

import ctypes.util
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(not ctypes.util.find_library("c") or not hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "gnu_get_libc_version"),
                           reason="malloc tuning is for glibc")

_PROGRAM = """
import resource, sys
import numpy as np
from framebridge.server.memory import keep_frame_memory
tuned = sys.argv[1] == "tuned" and keep_frame_memory()
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
frame = (1080, 1920, 4)  # 33 MB
start = faults(); first = np.ones(frame, np.float32); first_faults = faults() - start
second = np.ones(frame, np.float32)
del first
start = faults(); third = np.ones(frame, np.float32); third_faults = faults() - start
print(tuned, first_faults, third_faults)
"""


def _faults(mode: str) -> tuple[bool, int, int]:
    out = subprocess.run([sys.executable, "-c", _PROGRAM, mode], check=True, capture_output=True, text=True).stdout.split()
    return out[0] == "True", int(out[1]), int(out[2])


@glibc
def test_a_freed_frame_buffer_serves_the_next_frame_without_page_faults():
    tuned, first, third = _faults("tuned")
    assert tuned
    assert first > 0
    assert third <= first // 10, (first, third)


@glibc
def test_without_it_the_next_frame_faults_its_buffer_in_again():
    tuned, first, third = _faults("default")
    assert not tuned
    assert third > first // 2, (first, third)
