"""GPU check, part 1: float32 parity (TF32 off) and one bf16 / fp16 training step per model.

Parity: every bundled model (lip front-end, IIANet 16/10/5 cycles, CTCNet, Dolphin, RTFS-Net
R = 4/6/12) loads the official-layout fixture weights of `../shared/data/reference/*` and runs the
2 s fixture input in float32 on `--device` with TF32 off; the error is `max|y - ref| / max|ref|`
against the official float32 output (the CPU parity tests ask for <= 1e-5; on CUDA a different
reduction order is allowed up to `--tol`, default 1e-4). The parity tests in tests/test_*.py
show the same loading; this script repeats it without importing the tests.

Training step: per separator, one forward + backward + Adam step on the 1 s fixture input under
bf16 autocast (no scaler) and under fp16 autocast with `torch.amp.GradScaler`, from the
fixture weights in train mode; the loss and the updated weights must be finite.

    python benchmarks/gpu_parity.py --device cuda --json gpu_parity.json
    python benchmarks/gpu_parity.py --device cpu --models lipfrontend iianet5   # dry mode

Exit status 1 when any check fails. Runs from a bare checkout with
`PYTHONPATH=.:baselines`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "data" / "reference"


def _load(folder: str, name: str) -> dict:
    return torch.load(REFERENCE / folder / name, map_location="cpu", weights_only=True)


def _quiet(fn: Callable, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # releases have no front-end weights
        return fn(*args, **kwargs)


def build(name: str) -> tuple[torch.nn.Module, str]:
    """(model with the fixture weights, fixture folder)."""
    if name == "lipfrontend":
        from avss_bench.models.lip_frontend import load_lip_frontend

        return load_lip_frontend(_load("lipfrontend", "state_dict.pt")), "lipfrontend"
    if name.startswith("iianet"):
        from avss_models.iianet.model import IIANet

        blocks = int(name.removeprefix("iianet"))
        model = _quiet(IIANet.load_checkpoint, _load("iianet16", "state_dict.pt"),
                       num_blocks=blocks)
        return model, name
    if name == "ctcnet":
        from avss_models.ctcnet import CTCNet

        return CTCNet().load_official_state_dict(_load("ctcnet", "state_dict.pt")), "ctcnet"
    if name == "dolphin":
        from avss_models.dolphin import Dolphin

        return Dolphin().load_official_state_dict(_load("dolphin", "state_dict.pt")), "dolphin"
    if name.startswith("rtfsnet"):
        from avss_models.rtfsnet import RTFSNet

        repeats = int(name.removeprefix("rtfsnet"))
        return RTFSNet(repeats=repeats).load_official_state_dict(
            _load(name, "state_dict.pt")), name
    raise ValueError(name)


MODELS = ("lipfrontend", "iianet16", "iianet10", "iianet5", "ctcnet", "dolphin", "rtfsnet4",
          "rtfsnet6", "rtfsnet12")


def run_parity(name: str, device: torch.device, dur: str = "2s") -> float:
    """Relative max error of the float32 output against the official one."""
    model, folder = build(name)
    model = model.to(device).eval()
    inp = {k: v.to(device) for k, v in _load(folder, "inputs.pt").items()}
    exp = _load(folder, "expected.pt")
    with torch.no_grad():
        if name == "lipfrontend":
            out, ref = model(inp[f"lip_{dur}"]), exp[f"emb_{dur}_f32"]
        elif name == "dolphin":
            out, ref = model(inp[f"mix_{dur}"], inp[f"lip_{dur}"]), exp[f"out_{dur}_f32"][:, 0]
        else:
            out = model.separate(inp[f"mix_{dur}"], inp[f"emb_{dur}"])
            ref = exp[f"out_{dur}_f32"][:, 0]
    out = out.float().cpu().reshape(ref.shape)
    return float((out - ref).abs().max() / ref.abs().max())


def train_step(name: str, device: torch.device, precision: str) -> dict:
    """One Adam step under bf16 (no scaler) or fp16 (GradScaler) autocast; finite or not."""
    from avss_bench.train.losses import negative

    model, folder = build(name)
    model = model.to(device).train()
    inp = {k: v.to(device) for k, v in _load(folder, "inputs.pt").items()}
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    loss_fn = negative("snr")
    target = inp["mix_1s"] * 0.5
    start = time.perf_counter()
    with torch.autocast(device.type, dtype=dtype):
        estimate = model(inp["mix_1s"], inp["lip_1s"])
    loss = loss_fn(estimate.float().reshape(target.shape), target)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(params, 5.0)
    scaler.step(optimizer)
    scaler.update()
    if device.type == "cuda":
        torch.cuda.synchronize()
    finite = bool(torch.isfinite(loss)) and all(bool(torch.isfinite(p).all()) for p in params)
    return {"loss": float(loss.detach()), "finite": finite, "scale": scaler.get_scale() if
            scaler.is_enabled() else None, "seconds": round(time.perf_counter() - start, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    rows, failed = [], False
    for name in args.models:
        row: dict = {"model": name, "parity_f32": run_parity(name, device)}
        row["parity_ok"] = row["parity_f32"] <= args.tol
        failed |= not row["parity_ok"]
        if name != "lipfrontend" and not args.skip_training:
            for precision in ("bf16", "fp16"):
                step = train_step(name, device, precision)
                row[precision] = step
                failed |= not step["finite"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print("gpu_parity:", "FAILED" if failed else "ok", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
