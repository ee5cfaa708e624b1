"""Lip-sync: dialogue audio to Rhubarb-style mouth cues for rigs, and lip-synced plates."""
