"""The front-end rule, the same for every separator: a model whose card says its visual encoder
needs trained weights is refused a checkpoint without them unless random ones are asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from avss_bench.cli import main
from avss_bench.core.errors import AvssError
from avss_bench.models import AVSeparator, LipFrontend, ModelCard, OfficialFile, freeze
from avss_bench.models.checkpoints import save_checkpoint
from avss_bench.models.registry import load_separator


@pytest.fixture(scope="module")
def rtfsnet_separator_only(tmp_path_factory) -> Path:
    """RTFS-Net weights in the official layout without the lip front-end (a bare state dict)."""
    model = load_separator("rtfsnet")
    path = tmp_path_factory.mktemp("rtfs") / "separator_only.pth"
    torch.save(model.separation_state_dict(), path)
    return path


def test_rtfsnet_without_frontend_weights_is_refused(rtfsnet_separator_only: Path) -> None:
    with pytest.raises(AvssError, match="no lip front-end weights.*--random-init"):
        load_separator("rtfsnet", checkpoint=rtfsnet_separator_only)
    model = load_separator("rtfsnet", checkpoint=rtfsnet_separator_only, random_frontend=True)
    assert model.frontend_loaded is False


def test_evaluate_refuses_it_before_reading_data(rtfsnet_separator_only: Path,
                                                 tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", "-m", "rtfsnet", "-c",
                                       str(rtfsnet_separator_only), "-d", str(tmp_path / "none"),
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "no lip front-end weights" in result.output and "Traceback" not in result.output


class QuietLoader(AVSeparator):
    """A plugin whose card needs front-end weights and whose loader does not say it has them."""

    card = ModelCard(name="Quiet", visual_encoder="LRW ResNet-18", needs_frontend_weights=True)

    def __init__(self) -> None:
        super().__init__()
        self.config: dict = {}
        self.gain = nn.Parameter(torch.ones(1))
        self.lip_frontend = freeze(LipFrontend())

    def separate(self, mixture: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        return self.gain * mixture + 0 * embedding.mean()

    @classmethod
    def load_checkpoint(cls, path: Path) -> QuietLoader:
        model = cls()
        model.gain.data.copy_(torch.load(path, weights_only=True)["gain"])
        return model


def test_the_rule_holds_for_plugins_and_our_own_checkpoints(tmp_path: Path) -> None:
    target = f"{__name__}:QuietLoader"
    official = tmp_path / "gain.pt"
    torch.save({"gain": torch.tensor([2.0])}, official)
    with pytest.raises(AvssError, match="no lip front-end weights"):
        load_separator(target, checkpoint=official)
    frontend = tmp_path / "frontend.pt"
    torch.save(LipFrontend().state_dict(), frontend)
    loaded = load_separator(target, checkpoint=official, frontend_checkpoint=frontend)
    assert loaded.frontend_loaded is True and float(loaded.gain.detach()) == 2.0
    # ours: complete, unless trained against a random front-end on purpose
    ours = tmp_path / "ours.pt"
    save_checkpoint(QuietLoader(), ours, target)
    assert load_separator(target, checkpoint=ours).frontend_loaded is True
    save_checkpoint(QuietLoader(), ours, target,
                    {"training": {"config": {"model": {"frontend_checkpoint": "random"}}}})
    with pytest.raises(AvssError, match="no lip front-end weights"):
        load_separator(target, checkpoint=ours)
    mixture = torch.randn(1, 1600)
    out = load_separator(target, checkpoint=ours, random_frontend=True)(
        mixture, torch.zeros(1, 1, 3, 88, 88))
    assert torch.equal(out, mixture)


class PinnedRelease(QuietLoader):
    """A card that knows the sha256 of its official file."""

    card = ModelCard(name="Pinned", official_files=(
        OfficialFile("gain.pt", "https://example.org/gain.pt", "0" * 64, "release"),))


def test_a_known_sha256_on_the_card_is_checked_on_load(tmp_path: Path) -> None:
    release = tmp_path / "gain.pt"
    torch.save({"gain": torch.tensor([2.0])}, release)
    with pytest.raises(AvssError, match="is not the published 0000"):
        load_separator(f"{__name__}:PinnedRelease", checkpoint=release)
    renamed = tmp_path / "mine.pt"  # not an official file: nothing to compare with
    release.rename(renamed)
    model = load_separator(f"{__name__}:PinnedRelease", checkpoint=renamed)
    assert float(model.gain.detach()) == 2.0
