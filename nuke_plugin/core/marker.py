"""The knob every FrameBridge node has: how callbacks recognise one without importing anything else."""

MARKER = "framebridge"
