"""Dolphin: audio-visual speech separation with its own discrete lip encoder (DP-LipCoder).

`from dolphin import Dolphin`; registered as the separator `dolphin`.
"""

from dolphin.model import Dolphin

__all__ = ["Dolphin"]
