"""Frame-sized memory kept in the process between frames, so each frame's buffers do not page-fault afresh.

A float frame is large (1080p RGBA: 33 MB). glibc's malloc serves allocations over
its mmap threshold with fresh pages from the kernel and returns freed heap memory
beyond its trim threshold; every frame then faults its buffers in again, which on
a VM with transparent huge pages costs up to 100 ms of system time a 1080p frame.
:func:`keep_frame_memory` raises both thresholds, and keeps every thread on the
main heap (thread heaps are capped at 64 MB and give frame buffers back as they
shrink), so freed frame buffers serve the next frame. The process then holds on
to up to :data:`KEPT` of freed memory at the top of its heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["KEPT", "keep_frame_memory"]

_log = logging.getLogger(__name__)

KEPT = 1 << 30  # freed memory the heap keeps at its top before giving it back
_LARGEST = 32 << 20  # glibc's ceiling for the mmap threshold: buffers up to this come from the heap
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8


def keep_frame_memory() -> bool:
    """Tune glibc's malloc for frame-sized buffers (once, before worker threads start); False where the C library is
    not glibc, which is left as it is."""
    name = ctypes.util.find_library("c")
    library = ctypes.CDLL(name) if name else None
    if library is None or not hasattr(library, "gnu_get_libc_version"):
        return False
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_THRESHOLD, _LARGEST), (_M_TRIM_THRESHOLD, KEPT))
    kept = all(library.mallopt(option, value) == 1 for option, value in settings)
    if not kept:
        _log.warning("glibc refused a malloc setting: frame buffers may page-fault afresh each frame")
    return kept
