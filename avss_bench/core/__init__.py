"""The bottom layer: what every stage shares and nothing of ours is imported by.

Errors, constants, atomic file writes, hashing, the provenance stamp, process tuning, and the
silencing of native libraries' start-up logs.
"""
