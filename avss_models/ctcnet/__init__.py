"""CTCNet (cortico-thalamo-cortical network): the audio-visual separation baseline.

`from avss_models.ctcnet import CTCNet`; registered as the separator `ctcnet`.
"""

from avss_models.ctcnet.model import CTCNet

__all__ = ["CTCNet"]
