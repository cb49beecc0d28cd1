"""Training: exact resume, DDP equivalence (2 gloo ranks vs 1 process), bad data errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avss_bench.core.errors import AvssError
from avss_bench.models import AVSeparator
from avss_bench.train.config import load_config
from avss_bench.train.loop import train

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import make_prepared_corpus  # noqa: E402
from train_helpers import resume_killed, train_straight_then_kill  # noqa: E402

TINY = ["model.name=tiny-av", "model.config.enc_channels=16", "model.config.hidden=32",
        "model.config.num_blocks=2", "model.config.repeats=1", "model.config.video_channels=8"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_prepared_corpus(tmp_path_factory.mktemp("corpus"), {"tr": 8, "cv": 2, "tt": 2},
                                seconds=1.0)


def _config(corpus: Path, *extra: str):
    return load_config(None, [f"data.root={corpus}", "data.segment_s=1.0", "data.batch_size=4",
                              "optim.max_epochs=2", "optim.loss=snr", *TINY, *extra])


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_training_improves_and_writes_run_folder(corpus: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    summary = train(_config(corpus, "optim.max_epochs=3"), tmp_path, quiet=True)
    assert summary["epochs"] == 3 and summary["steps"] == 3 * 4  # 16 examples / batch 4
    for name in ("last.pt", "best.pt", "config.yaml", "log.csv"):
        assert (tmp_path / name).is_file()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    log = (tmp_path / "log.csv").read_text().splitlines()
    assert len(log) == 4 and log[0].startswith("epoch,step,train_loss,valid_si_snr")
    from avss_bench.models.registry import load_separator

    model = load_separator("tiny-av", checkpoint=tmp_path / "best.pt")
    assert not model.training and model.config["enc_channels"] == 16


def test_resume_continues_exactly(corpus: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    train(_config(corpus), tmp_path / "straight", quiet=True)
    train(_config(corpus, "optim.max_epochs=1"), tmp_path / "resumed", quiet=True)
    summary = train(_config(corpus), tmp_path / "resumed", resume=True, quiet=True)
    assert summary["epochs"] == 2
    straight, resumed = _weights(tmp_path / "straight/last.pt"), _weights(
        tmp_path / "resumed/last.pt")
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "avss_bench.cli", *args]


def _overrides(corpus: Path, batch: int) -> list[str]:
    return [f"data.root={corpus}", "data.segment_s=1.0", f"data.batch_size={batch}",
            "optim.max_epochs=1", "optim.loss=snr", *TINY]


@pytest.mark.slow
def test_two_rank_ddp_equals_one_process(corpus: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run(_cli("train", "-r", "demo/tiny-av", "--out", str(tmp_path / "one"),
                              "--quiet", "--device", "cpu", *_overrides(corpus, 4)),
                         env=env, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", str(29500 + os.getpid() % 1000), "-m", "avss_bench.cli", "train",
         "-r", "demo/tiny-av", "--out", str(tmp_path / "two"), "--quiet", "--device", "cpu",
         *_overrides(corpus, 2)], env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr
    a, b = _weights(tmp_path / "one/last.pt"), _weights(tmp_path / "two/last.pt")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6, msg=key)


@pytest.mark.slow
def test_kill_then_resume_matches_uninterrupted(corpus: Path, tmp_path: Path) -> None:
    args = ["--quiet", "--device", "cpu", *_overrides(corpus, 4), "optim.max_epochs=4"]
    last = train_straight_then_kill(args, tmp_path, poll_s=0.05)
    resume_killed(args, tmp_path)
    a, b = _weights(tmp_path / "straight/last.pt"), _weights(last)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_lip_frames_disagreeing_with_audio_is_a_clear_error(corpus: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(corpus, broken)
    lips = sorted((broken / "lips").glob("tr000_s1.npz"))[0]
    np.savez_compressed(lips, data=np.zeros((7, 96, 96), np.uint8))
    with pytest.raises(AvssError, match="tr000_s1.npz: 7 lip frames but the audio needs 25"):
        train(load_config(None, [f"data.root={broken}", "data.segment_s=1.0",
                                 *TINY]), tmp_path / "run", quiet=True)


def test_missing_wav_is_a_clear_error(corpus: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(corpus, broken)
    (broken / "wav16k/min/tr/s2/tr001.wav").unlink()
    with pytest.raises(AvssError, match=r"tr001.wav: cannot read audio"):
        train(load_config(None, [f"data.root={broken}", "data.segment_s=1.0",
                                 *TINY]), tmp_path / "run", quiet=True)


class _ExtraChannelSeparator(torch.nn.Module):
    """A plugin that breaks the contract: returns [B, 1, T] instead of [B, T]."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.ones(1))
        self.config: dict = {}

    def forward(self, mixture: torch.Tensor, lips: torch.Tensor | None = None) -> torch.Tensor:
        return (self.gain * mixture).unsqueeze(1)


def test_contract_broken_on_the_first_batch_stops_training(corpus: Path, tmp_path: Path) -> None:
    """A [B, 1, T] output would broadcast in the loss and train silently; it stops at once."""
    config = load_config(None, [f"data.root={corpus}", "data.segment_s=1.0",
                                "data.batch_size=4", "optim.max_epochs=1",
                                f"model.name={__name__}:_ExtraChannelSeparator"])
    with pytest.raises(AvssError, match=r"returned shape \[4, 1, 16000\], expected \[B, T\]"):
        train(config, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_cosine_schedule_warms_up_then_decays_to_the_floor(corpus: Path) -> None:
    from avss_bench.train.loop import make_scheduler

    config = _config(corpus, "optim.schedule=cosine", "optim.max_steps=10",
                     "optim.warmup_steps=2", "optim.cosine_floor=0.1", "optim.lr=1.0")
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = make_scheduler(config, optimizer)
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs[:4] == pytest.approx([0.5, 1.0, 1.0, 0.1 + 0.9 * (1 + np.cos(np.pi / 8)) / 2])
    assert lrs[-1] == pytest.approx(0.1) and all(np.diff(lrs[1:]) <= 1e-12)
    with pytest.raises(AvssError, match="needs optim.max_steps"):
        make_scheduler(_config(corpus, "optim.schedule=cosine"), optimizer)


class _FrozenLips(AVSeparator):
    """A small plugin with a frozen visual encoder (no BatchNorm): its embeddings can be cached."""

    def __init__(self, frozen: bool = True) -> None:
        super().__init__()
        self.config = {"frozen": frozen}
        self.lip_frontend = torch.nn.Sequential(
            torch.nn.Conv3d(1, 4, (1, 11, 11), stride=(1, 11, 11)), torch.nn.Flatten(3))
        self.lip_frontend.requires_grad_(not frozen)
        self.encoder = torch.nn.Conv1d(1, 8, 16, stride=8)
        self.mask = torch.nn.Conv1d(8 + 4, 8, 1)
        self.decoder = torch.nn.ConvTranspose1d(8, 1, 16, stride=8)

    def separate(self, mixture: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        x = self.encoder(mixture.unsqueeze(1))
        video = torch.nn.functional.interpolate(embedding.mean(-1), size=x.shape[-1])
        x = x * torch.sigmoid(self.mask(torch.cat([x, video], 1)))
        return torch.nn.functional.pad(self.decoder(x)[:, 0], (0, 8))[:, :mixture.shape[-1]]


def test_cached_lip_embeddings_train_the_same_and_are_reused(corpus: Path,
                                                             tmp_path: Path) -> None:
    torch.set_num_threads(1)
    model = f"model.name={__name__}:_FrozenLips"
    base = [f"data.root={corpus}", "data.segment_s=1.0", "data.batch_size=4",
            "optim.max_epochs=2", "data.lip_augment=false", model]
    train(load_config(None, base), tmp_path / "plain", quiet=True)
    summary = train(load_config(None, base), tmp_path / "cached", quiet=True,
                    cache_lip_embeddings=True)
    # 16 training and 4 validation items: embedded once in epoch 1, reused in epoch 2
    assert summary["lip_embedding_cache"] == {"hits": 20, "misses": 20, "not_stored": 0,
                                              "stored_mb": 0.5}  # 20 x [4, 25, 64] float32
    plain, cached = _weights(tmp_path / "plain/last.pt"), _weights(tmp_path / "cached/last.pt")
    assert all(torch.allclose(plain[k], cached[k], rtol=1e-4, atol=1e-6) for k in plain)
    with pytest.raises(AvssError, match="random lip augmentation"):
        train(load_config(None, [*base, "data.lip_augment=true"]), tmp_path / "aug",
              quiet=True, cache_lip_embeddings=True)
    with pytest.raises(AvssError, match="trained with the separator"):
        train(load_config(None, [*base, "model.config={frozen: false}"]), tmp_path / "free",
              quiet=True, cache_lip_embeddings=True)
