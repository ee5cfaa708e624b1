"""Expression transfer backends: the interface, and the CPU default (landmark-driven warp)."""
