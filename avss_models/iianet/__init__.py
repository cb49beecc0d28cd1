"""IIANet and IIANet-fast (ICML 2024): intra- and inter-modality attention separators.

`IIANet` and `IIANetFast` live in `avss_models.iianet.model`; the official-checkpoint loaders
and the release download in `avss_models.iianet.official`. See README.md in this folder.
"""

from avss_models.iianet.model import IIANet, IIANetFast

__all__ = ["IIANet", "IIANetFast"]
