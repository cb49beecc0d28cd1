"""RTFS-Net: recurrent time-frequency audio-visual speech separation (R = 4, 6 or 12).

`from rtfsnet import RTFSNet`; registered as the separator `rtfsnet`.
"""

from rtfsnet.model import RTFSNet

__all__ = ["RTFSNet"]
