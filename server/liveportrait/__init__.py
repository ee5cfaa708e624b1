"""The LivePortrait-compatible expression backend: the official networks, checkpoints and keypoint math.

Importing this package does not import torch; :mod:`.networks` does, and only the
backend loads it when a job needs the model.
"""
