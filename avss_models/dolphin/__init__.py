"""Dolphin: audio-visual speech separation with its own discrete lip encoder (DP-LipCoder).

`from avss_models.dolphin import Dolphin`; registered as the separator `dolphin`.
"""

from avss_models.dolphin.model import Dolphin

__all__ = ["Dolphin"]
