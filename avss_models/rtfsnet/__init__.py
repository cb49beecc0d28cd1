"""RTFS-Net: recurrent time-frequency audio-visual speech separation (R = 4, 6 or 12).

`from avss_models.rtfsnet import RTFSNet`; registered as the separator `rtfsnet`.
"""

from avss_models.rtfsnet.model import RTFSNet

__all__ = ["RTFSNet"]
