"""IIANet and IIANet-fast (ICML 2024): intra- and inter-modality attention separators.

`IIANet` and `IIANetFast` live in `iianet.model`; the official-checkpoint loaders and the
release download in `iianet.official`. See README.md in this folder.
"""

from iianet.model import IIANet, IIANetFast

__all__ = ["IIANet", "IIANetFast"]
