"""Exact resume, DDP equivalence, mixed precision and the front-end guard with the real models.

IIANet and CTCNet at reduced width (the full LRW ResNet-18 lip front-end, 0.2 s segments) on a
small synthetic corpus, on CPU, so each test runs in seconds.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from avss_bench.core.errors import AvssError
from avss_bench.train.config import load_config
from avss_bench.train.loop import Trainer, train

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import make_prepared_corpus  # noqa: E402
from train_helpers import resume_killed, train_straight_then_kill  # noqa: E402

MODELS = {
    "iianet": ["model.name=iianet",
               "model.config={out_channels: 16, in_channels: 32, vin_channels: 16, "
               "vout_channels: 16, num_blocks: 3, av_cycles: 2, upsampling_depth: 3}",
               "model.sync_batchnorm=true"],
    "ctcnet": ["model.name=ctcnet",
               "model.config={n_filters: 16, kernel_size: 21, stride: 10, bn_chan: 16, "
               "hid_chan: 16, upsampling_depth: 3, an_repeats: 2, fn_repeats: 1, "
               "vout_chan: 512, video_chan: 8, video_depth: 3}",
               "model.sync_batchnorm=true"],
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_prepared_corpus(tmp_path_factory.mktemp("corpus"), {"tr": 4, "cv": 1, "tt": 1},
                                seconds=0.2)


def _config(corpus: Path, model: str, *extra: str):
    return load_config(None, [f"data.root={corpus}", "data.segment_s=0.2", "data.batch_size=4",
                              "optim.max_epochs=2", "optim.loss=snr",
                              "model.frontend_checkpoint=random", *MODELS[model], *extra])


def _state(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0
               for k in a)


@pytest.mark.parametrize("model", ["iianet", "ctcnet"])
def test_resume_mid_epoch_is_bit_identical(corpus: Path, tmp_path: Path, model: str) -> None:
    torch.set_num_threads(1)
    # 8 items / batch 4 = 2 steps per epoch; stop after step 3 = in the middle of epoch 2.
    straight = train(_config(corpus, model), tmp_path / "straight", quiet=True)
    stopped = train(_config(corpus, model, "optim.max_steps=3"), tmp_path / "cut", quiet=True)
    assert stopped["stop_reason"] == "max_steps" and stopped["steps"] == 3
    cut = _state(tmp_path / "cut/last.pt")
    assert (cut["epoch"], cut["batch_in_epoch"], cut["step"]) == (1, 1, 3)
    assert len(cut["rng"]) == 1 and cut["rng"][0]["torch"].dtype == torch.uint8
    resumed = train(_config(corpus, model), tmp_path / "cut", resume=True, quiet=True)
    assert resumed["steps"] == straight["steps"] == 4
    a, b = _state(tmp_path / "straight/last.pt"), _state(tmp_path / "cut/last.pt")
    assert _max_diff(a["model"], b["model"]) == 0.0
    assert a["best"] == b["best"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _no_dropout(model: torch.nn.Module) -> None:
    """Dropout/DropPath draws are per rank, so DDP equivalence is checked without them."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "drop_path", None), float):
            module.drop_path = 0.0


def _rank(rank: int, world: int, port: int, corpus: str, model: str, out: str) -> None:
    os.environ.update({"WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    config = _config(Path(corpus), model, f"data.batch_size={4 // world}", "optim.max_epochs=1")
    trainer = Trainer(config, Path(out), quiet=True, device="cpu")
    _no_dropout(trainer.model)
    trainer.run()
    if world > 1:
        torch.distributed.destroy_process_group()


@pytest.mark.slow  # 25-35 s each on 2 cores
@pytest.mark.parametrize("model", ["iianet", "ctcnet"])
def test_two_gloo_ranks_equal_one_process(corpus: Path, tmp_path: Path, model: str) -> None:
    _rank(0, 1, 0, str(corpus), model, str(tmp_path / "one"))
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        os.environ.pop(key, None)
    mp.spawn(_rank, args=(2, _free_port(), str(corpus), model, str(tmp_path / "two")),
             nprocs=2, join=True)
    one, two = _state(tmp_path / "one/last.pt"), _state(tmp_path / "two/last.pt")
    assert two["world_size"] == 2 and len(two["rng"]) == 2
    # Adam's first steps are lr * g / (|g| + eps): an element whose gradient is ~0 can flip
    # sign under float rounding and move by up to 2 lr. The gradient moments must agree to
    # float tolerance; the weights everywhere except such isolated elements.
    moments = zip(one["optimizer"]["state"].values(), two["optimizer"]["state"].values(),
                  strict=True)
    for a, b in moments:
        torch.testing.assert_close(a["exp_avg"], b["exp_avg"], rtol=1e-3, atol=1e-6)
        torch.testing.assert_close(a["exp_avg_sq"], b["exp_avg_sq"], rtol=1e-3, atol=1e-9)
    trained = [k for k in one["model"] if one["model"][k].is_floating_point()
               and not k.startswith("lip_frontend.")]
    diffs = torch.cat([(one["model"][k].double() - two["model"][k].double()).abs().flatten()
                       for k in trained])
    loose = int((diffs > 1e-5).sum())
    print(f"{model}: max |w_1proc - w_2ranks| = {float(diffs.max()):.3g}, "
          f"elements > 1e-5: {loose} of {diffs.numel()} trained")
    assert loose <= 0.01 * diffs.numel() and float(diffs.max()) <= 2 * 1e-3 * two["step"]
    frontend = [k for k in one["model"] if k.startswith("lip_frontend.")]
    assert _max_diff({k: one["model"][k] for k in frontend},
                     {k: two["model"][k] for k in frontend}) < 1e-5  # BN stats: global batch
    assert _max_diff(one["model"], _state(tmp_path / "one/best.pt")["state_dict"]) == 0.0


def test_bf16_autocast_training_step_on_cpu(corpus: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    trainer = Trainer(_config(corpus, "iianet", "precision=bf16", "optim.max_steps=1",
                              "data.batch_size=2"),
                      tmp_path, quiet=True, device="cpu")
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    summary = trainer.run()
    assert summary["steps"] == 1 and not trainer.scaler.is_enabled()
    after = trainer.model.state_dict()
    assert after["bottleneck.weight"].dtype == torch.float32
    assert not torch.equal(before["bottleneck.weight"], after["bottleneck.weight"])
    assert torch.equal(before["lip_frontend.trunk.layer1.0.conv1.weight"],
                       after["lip_frontend.trunk.layer1.0.conv1.weight"])  # frozen


def test_fp16_uses_a_grad_scaler_saved_and_restored(corpus: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config = _config(corpus, "ctcnet", "precision=fp16", "optim.max_steps=1",
                     "data.batch_size=2")
    trainer = Trainer(config, tmp_path, quiet=True, device="cpu")
    assert trainer.scaler.is_enabled()
    trainer.run()
    saved = _state(tmp_path / "last.pt")["scaler"]
    assert saved["scale"] > 0 and saved["_growth_tracker"] == trainer.scaler.state_dict()[
        "_growth_tracker"]
    state = _state(tmp_path / "last.pt")
    state["scaler"]["scale"] = 1234.0
    torch.save(state, tmp_path / "last.pt")
    fresh = Trainer(config, tmp_path, quiet=True, device="cpu")
    assert fresh.resume() and fresh.scaler.get_scale() == 1234.0


def test_real_recipe_without_frontend_checkpoint_stops(corpus: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVSS_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    config = load_config("lrs2/iianet", [f"data.root={corpus}"])
    assert config.model.frontend_checkpoint == "lrw_resnet18_mstcn_adamw_s3.pth.tar"
    with pytest.raises(AvssError, match=r"not found: download it from .*mpc001/Lipreading_using"
                                        r".*--random-frontend") as err:
        Trainer(config, tmp_path / "run", quiet=True, device="cpu")
    assert "\n" not in str(err.value)
    for name in ("lrs3/ctcnet", "vox2/iianet-fast"):
        assert load_config(name).model.frontend_checkpoint.endswith(".pth.tar")


def test_lrw_model_without_any_frontend_setting_is_an_error(corpus: Path, tmp_path: Path) -> None:
    config = _config(corpus, "ctcnet", "model.frontend_checkpoint=null")
    with pytest.raises(AvssError, match="names no model.frontend_checkpoint"):
        Trainer(config, tmp_path, quiet=True, device="cpu")


def _decide(rank: int, port: int, out: str) -> None:
    from avss_bench.core.distributed import any_rank, init_distributed, rank0_decides

    os.environ.update({"WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    info = init_distributed()
    cpu = torch.device("cpu")
    # Each rank's clock says something else; rank 0's word is what every rank acts on.
    decided = rank0_decides(2 if rank == 0 else 3, info, cpu)
    nan_seen = any_rank(rank == 1, info, cpu)
    Path(out, f"rank{rank}").write_text(f"{decided} {nan_seen}")
    torch.distributed.destroy_process_group()


def test_rank0_decides_and_a_nan_on_any_rank_is_seen_by_all(tmp_path: Path) -> None:
    mp.spawn(_decide, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    assert [(tmp_path / f"rank{r}").read_text() for r in (0, 1)] == ["2 True", "2 True"]


@pytest.mark.slow  # three CLI processes, ~40 s on 2 cores
def test_kill_9_mid_epoch_then_resume_is_bit_identical(corpus: Path, tmp_path: Path) -> None:
    args = ["--quiet", "--device", "cpu", "--random-frontend", f"data.root={corpus}",
            "data.segment_s=0.2", "data.batch_size=4", "optim.max_epochs=2",
            "optim.checkpoint_every=1", *MODELS["iianet"]]
    # killed right after the first mid-epoch checkpoint (step 1)
    last = train_straight_then_kill(args, tmp_path, poll_s=0.01)
    killed_at = _state(last)
    assert killed_at["batch_in_epoch"] == 1 and killed_at["epoch"] == 0
    resume_killed(args, tmp_path)
    a, b = _state(tmp_path / "straight/last.pt"), _state(last)
    assert b["step"] == a["step"] == 4
    assert _max_diff(a["model"], b["model"]) == 0.0
