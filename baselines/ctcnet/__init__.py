"""CTCNet (cortico-thalamo-cortical network): the audio-visual separation baseline.

`from ctcnet import CTCNet`; registered as the separator `ctcnet`.
"""

from ctcnet.model import CTCNet

__all__ = ["CTCNet"]
