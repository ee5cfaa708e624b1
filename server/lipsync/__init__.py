"""Lip-sync: mouth cues from dialogue, and lip-synced plates (the ``lipsync`` op's parts)."""
