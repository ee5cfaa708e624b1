"""The thin layer that talks to Nuke: knob values <-> dicts, internal nodes, progress, messages.

Every module here imports ``nuke``; the logic they call lives in :mod:`..core`.
"""
