"""Keyframe propagation: chains of coordinates along the render's motion, and guided fill for what no keyframe saw."""
