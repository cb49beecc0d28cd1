"""IIANetDemo: IIANet's separation network at demo size, with a light trainable lip encoder.

The full IIANet needs the frozen 11 M-parameter ResNet-18 lip front-end with LRW lip-reading
weights (a separate download) and GPU hours; the demo has neither. This keeps IIANet's own
blocks (intra/inter-attention, bottom-up/top-down cycles, 4 audio-visual then audio-only
cycles, the official encoder/decoder and padding) and shrinks the widths and cycle count, and
replaces the front-end with `TinyLipEncoder`, trained from scratch with the rest.
"""

from __future__ import annotations

from typing import Any

from avss_bench.models import ModelCard, TinyLipEncoder
from avss_models.iianet.model import IIANet


class IIANetDemo(IIANet):
    """IIANet family, demo size: trains to a positive SI-SNRi on the demo corpus in minutes.

    Args:
        out_channels, in_channels, vin_channels, vout_channels, num_blocks, av_cycles,
            upsampling_depth, enc_kernel_size: as IIANet, smaller defaults.
        vpre_channels: width of the trainable lip features.
        **kwargs: any other IIANet argument.

    Shape:
        - mixture: `[B, T]`, lips: `[B, 1, F, 88, 88]` -> `[B, T]`
    """

    card = ModelCard(
        name="IIANet (demo size)", paper="the demo-size IIANet of avss-bench (not published)",
        counting="Not a published model: no paper figures to compare with.",
        visual_encoder="TinyLipEncoder (trained with the separator)",
        needs_frontend_weights=False)

    def __init__(self, out_channels: int = 64, in_channels: int = 128, vin_channels: int = 32,
                 vout_channels: int = 32, num_blocks: int = 6, av_cycles: int = 4,
                 upsampling_depth: int = 4, enc_kernel_size: int = 2, vpre_channels: int = 64,
                 **kwargs: Any) -> None:
        kwargs["freeze_frontend"] = False  # the light lip encoder trains with the rest
        super().__init__(out_channels=out_channels, in_channels=in_channels,
                         vpre_channels=vpre_channels, vin_channels=vin_channels,
                         vout_channels=vout_channels, num_blocks=num_blocks,
                         av_cycles=av_cycles, upsampling_depth=upsampling_depth,
                         enc_kernel_size=enc_kernel_size, **kwargs)
        self.lip_frontend = TinyLipEncoder(vpre_channels)
