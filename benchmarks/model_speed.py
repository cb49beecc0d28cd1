"""Speed of every bundled model (IIANet, IIANet-fast, CTCNet, Dolphin, RTFS-Net-4/6/12): forward
latency and training-step throughput, optionally side by side with the official code.

Part 0 (`--official-repo NAME=PATH`, repeatable; NAME = iianet, ctcnet, dolphin or rtfsnet): the
official implementation is imported from the user's checkout at PATH (never copied here), built
with the parity fixture's constructor arguments and loaded with the same fixture weights
(`../shared/data/reference/<folder>/state_dict.pt`, official key layout) as ours; both get the
same inputs (the fixture's real LRS2 mixture and lips / lip embedding) and are timed in the same
run, interleaved: forward (batch 1, `inference_mode`) and one training step (forward + backward
+ Adam, batch `--train-batch`, negative SNR against 0.5 x mixture, the visual encoder under
`no_grad`). The output difference ours vs official is reported as the proof that the same
function was timed. Dolphin is timed as its whole forward (its video encoder is inside the
model in both codes); the others as the separation network given the lip embedding.

Part 1 (forward, batch 1): the separation network alone (`model.separate(mixture, embedding)`)
and the lip front-end alone, each timed `--reps` times after `--warmup` untimed passes, the
models interleaved inside each repetition (as the spec's reference timings were taken), under
`torch.inference_mode`, for each `--threads` count. Wall-clock median/min and process CPU time.
On CPU the table also gives the ratio to the official implementation's timings from
`../shared/spec/numbers.json` (same kind of 2-vCPU VM, same torch, separation net only, batch 1,
inference_mode, interleaved): they were NOT measured in the same run, and both runs shared the VM
with other jobs, so the ratios are indicative only (no official code is vendored here to time
it side by side).

Part 2 (variants, forward, batch 1): bf16 autocast, `torch.compile` (default mode) and both,
against the float32 eager output: relative max error and SNR of the variant's output w.r.t.
float32 eager. The weights and inputs are the parity fixtures (official random weights, a real
LRS2 mixture and lip embedding) when `../shared/data/reference` is there, else random.

Part 3 (training step): forward + backward + Adam step of the separation network on a batch of
`--train-batch` 2 s segments (negative-SNR loss), the lip front-end run under `no_grad`, as in
both official recipes (IIANet's front-end BatchNorms in train mode, CTCNet's frozen). Median step
time and segments per second, for each variant in `--train-variants`.

    python benchmarks/model_speed.py                           # CPU defaults
    python benchmarks/model_speed.py --threads 1 2 --reps 5 --variants eager bf16 compile
    python benchmarks/model_speed.py --device cuda --train-batch 6 --json out.json

Models are built by import path (no installed entry points needed), so the script also runs from
a bare checkout: `PYTHONPATH=.:baselines python benchmarks/model_speed.py`.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

#: glibc malloc settings that keep freed activation memory in the heap instead of returning it
#: to the OS (fewer page faults per pass; the spec's reference timings used such settings too).
#: glibc and OpenMP read them at start-up, so the script re-executes itself once with them set
#: (a value already in the environment wins).
#: OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep instead of spinning. On a shared 2-vCPU
#: VM a spinning thread that waits for a descheduled one made 2-thread passes 4x slower than
#: 1-thread ones here (18 s vs 4.5 s for CTCNet 2 s); with it they are 4.4 s.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "100000000000",
              "MALLOC_TOP_PAD_": "1073741824", "OMP_WAIT_POLICY": "PASSIVE"}
if __name__ == "__main__" and not all(k in os.environ for k in MALLOC_ENV):
    os.environ.update({k: os.environ.get(k, v) for k, v in MALLOC_ENV.items()})
    os.execv(sys.executable, [sys.executable, *sys.argv])

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "baselines"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from avss_bench.models.registry import import_object  # noqa: E402,I001

SHARED = ROOT.parent / "shared"
#: name -> (import path, constructor arguments). `ctcnet+cbu` is CTCNet with our
#: `conv_before_upsample=True` (same function, 33% fewer MACs; see avss_models/ctcnet/README.md).
MODELS = {"iianet": ("avss_models.iianet.model:IIANet", {}),
          "iianet-fast": ("avss_models.iianet.model:IIANetFast", {}),
          "ctcnet": ("avss_models.ctcnet.model:CTCNet", {}),
          "ctcnet+cbu": ("avss_models.ctcnet.model:CTCNet", {"conv_before_upsample": True}),
          "dolphin": ("avss_models.dolphin.model:Dolphin", {}),
          "rtfsnet-4": ("avss_models.rtfsnet.model:RTFSNet", {"repeats": 4}),
          "rtfsnet-6": ("avss_models.rtfsnet.model:RTFSNet", {"repeats": 6}),
          "rtfsnet-12": ("avss_models.rtfsnet.model:RTFSNet", {"repeats": 12})}
FIXTURES = {"iianet": "iianet16", "iianet-fast": "iianet16", "ctcnet": "ctcnet",
            "ctcnet+cbu": "ctcnet", "dolphin": "dolphin", "rtfsnet-4": "rtfsnet4",
            "rtfsnet-6": "rtfsnet6", "rtfsnet-12": "rtfsnet12"}
#: official code per model family: (public repository, commit the fixtures were made with,
#: default `module:Class` inside the checkout, extra constructor arguments). Override the class
#: with `--official-repo NAME=PATH:module.path:Class`.
OFFICIAL = {
    "iianet": ("JusperLee/IIANet", "86f3538", "look2hear.models.IIANet:IIANet", {}),
    "ctcnet": ("JusperLee/CTCNet", "c8112b7", "nichang.models.ctcnet:CTCNet", {}),
    "dolphin": ("JusperLee/Dolphin", "5a4e5e8", "look2hear.models.dolphin:Dolphin", {}),
    "rtfsnet": ("spkgyk/RTFS-Net", "a4cd736", "src.models:AVNet", {"print_macs": False}),
}
VARIANTS = ("eager", "bf16", "compile", "compile-bf16")


# ---------------------------------------------------------------- helpers
def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def official_key(name: str, model: torch.nn.Module) -> str | None:
    if name.startswith("ctcnet"):
        return "ctcnet"
    if not name.startswith("iianet"):
        return None  # no stored official timings (use --official-repo)
    blocks = model.config.get("num_blocks")
    return f"iianet_nb{blocks}" if blocks is not None else None


def official_timing(numbers: dict, seconds: float, threads: int, key: str | None) -> dict | None:
    if key is None:
        return None
    table = numbers.get("cpu_time", {}).get(
        f"{seconds:g}s_input_{threads}thread{'s' if threads > 1 else ''}", {})
    return table.get(key)


def build(name: str, device: torch.device, use_fixture: bool) -> tuple[torch.nn.Module, bool]:
    """The model in eval mode, with the parity fixture's official weights when available."""
    target, kwargs = MODELS[name]
    cls = import_object(target)
    folder = SHARED / "data" / "reference" / FIXTURES[name]
    frontend = SHARED / "data" / "reference" / "lipfrontend" / "state_dict.pt"
    if not (use_fixture and (folder / "state_dict.pt").is_file()):
        from avss_bench.evaluate.profile import fill_untrained_codebooks

        model = cls(**kwargs)
        fill_untrained_codebooks(model)  # a fresh Dolphin cannot run otherwise
        return model.to(device).eval(), False
    model = cls.load_checkpoint(folder / "state_dict.pt", **kwargs)
    from avss_bench.models.lip_frontend import LipFrontend, load_frontend_weights

    if frontend.is_file() and isinstance(model.lip_frontend, LipFrontend):
        load_frontend_weights(model.lip_frontend, frontend)
    return model.to(device).eval(), True


def inputs(seconds: float, batch: int, device: torch.device, use_fixture: bool
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mixture [B, T], lips [B, 1, F, 88, 88], embedding [B, 512, F] or empty)."""
    samples, frames = int(round(seconds * 16000)), int(round(seconds * 25))
    fixture = SHARED / "data" / "reference" / "ctcnet" / "inputs.pt"
    if use_fixture and fixture.is_file() and seconds in (1, 2):
        data = torch.load(fixture, map_location="cpu", weights_only=True)
        tag = f"{seconds:g}s"
        mix = data[f"mix_{tag}"].clone().repeat(batch, 1)
        lips = data[f"lip_{tag}"].clone().repeat(batch, 1, 1, 1, 1)
        emb = data[f"emb_{tag}"].clone().repeat(batch, 1, 1)
    else:
        gen = torch.Generator().manual_seed(0)
        mix = 0.1 * torch.randn(batch, samples, generator=gen)
        lips = torch.randn(batch, 1, frames, 88, 88, generator=gen)
        emb = torch.empty(0)
    return mix.to(device), lips.to(device), emb.to(device)


def snr_db(ref: torch.Tensor, est: torch.Tensor) -> float:
    ref, est = ref.double(), est.double()
    noise = (ref - est).square().sum().item()
    return math.inf if noise == 0 else 10 * math.log10(ref.square().sum().item() / noise)


def autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def make_forward(model: torch.nn.Module, variant: str, device: torch.device):
    """A callable (mixture, embedding) -> float32 output for one variant."""
    separate = model.separate
    if variant.startswith("compile"):
        separate = torch.compile(model.separate, dynamic=False)
    bf16 = variant.endswith("bf16")

    def run(mix: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        with autocast(device, bf16):
            return separate(mix, emb).float()

    return run


def time_interleaved(calls: dict[str, Any], reps: int, warmup: int, device: torch.device
                     ) -> dict[str, dict[str, Any]]:
    """Each callable `reps` times after `warmup` passes, interleaved; wall and CPU seconds."""
    out = {name: {"wall_s": [], "cpu_s": []} for name in calls}
    with torch.inference_mode():
        for _ in range(warmup):
            for fn in calls.values():
                fn()
            sync(device)
        for _ in range(reps):
            for name, fn in calls.items():
                gc.collect()
                sync(device)
                w0, c0 = time.perf_counter(), time.process_time()
                fn()
                sync(device)
                out[name]["wall_s"].append(time.perf_counter() - w0)
                out[name]["cpu_s"].append(time.process_time() - c0)
    for stats in out.values():
        stats["wall_median_s"] = statistics.median(stats["wall_s"])
        stats["wall_min_s"] = min(stats["wall_s"])
        stats["cpu_median_s"] = statistics.median(stats["cpu_s"])
    return out


# ---------------------------------------------------------------- parts
def part_forward(args, device, numbers) -> list[dict]:
    rows = []
    models = {name: build(name, device, args.fixtures)[0] for name in args.models}
    mix, lips, _ = inputs(args.seconds, 1, device, use_fixture=False)
    lrw = next((m.lip_frontend for m in models.values()
                if type(m.lip_frontend).__name__ == "LipFrontend"), None)
    with torch.inference_mode():  # each model's own visual encoder output
        embs = {name: m.lip_frontend(lips) for name, m in models.items()}
    for threads in args.threads:
        if device.type == "cpu":
            torch.set_num_threads(threads)
        log(f"[forward] {args.seconds:g} s, {threads} thread(s) ...")
        calls = {name: (lambda m=m, e=embs[name]: m.separate(mix, e))
                 for name, m in models.items()}
        if lrw is not None:
            calls["lip front-end"] = lambda: lrw(lips)
        timings = time_interleaved(calls, args.reps, args.warmup, device)
        for name, stats in timings.items():
            key = "video_resnet18" if name == "lip front-end" else official_key(
                name, models[name])
            official = official_timing(numbers, args.seconds, threads, key) \
                if device.type == "cpu" else None
            rows.append({
                "part": "forward", "model": name, "seconds": args.seconds, "threads": threads,
                "device": device.type, "wall_median_s": stats["wall_median_s"],
                "wall_min_s": stats["wall_min_s"], "cpu_median_s": stats["cpu_median_s"],
                "official_key": key,
                "official_wall_median_s": official["wall_median_s"] if official else None,
                "official_cpu_median_s": official["process_cpu_median_s"] if official else None,
                "ratio_wall_vs_official": (stats["wall_median_s"] / official["wall_median_s"]
                                           if official else None),
                "ratio_cpu_vs_official": (stats["cpu_median_s"] / official[
                    "process_cpu_median_s"] if official else None),
            })
    del models
    gc.collect()
    return rows


def part_variants(args, device) -> list[dict]:
    rows = []
    if device.type == "cpu":
        torch.set_num_threads(max(args.threads))
    mix, _, emb = inputs(args.seconds, 1, device, use_fixture=args.fixtures)
    if emb.numel() == 0:
        emb = torch.randn(1, 512, int(round(args.seconds * 25)), device=device)
    for name in args.models:
        model, _ = build(name, device, args.fixtures)
        with torch.inference_mode():
            reference = model.separate(mix, emb).float()
        for variant in args.variants:
            log(f"[variants] {name} {variant} ...")
            fn = make_forward(model, variant, device)
            start = time.perf_counter()
            try:
                with torch.inference_mode():
                    first = fn(mix, emb)
            except Exception as err:  # noqa: BLE001 - report and go on (e.g. no compiler)
                rows.append({"part": "variants", "model": name, "variant": variant,
                             "error": f"{type(err).__name__}: {str(err).splitlines()[0]}"})
                continue
            sync(device)
            first_s = time.perf_counter() - start
            stats = time_interleaved({variant: lambda fn=fn: fn(mix, emb)}, args.reps,
                                     args.warmup, device)[variant]
            with torch.inference_mode():
                out = fn(mix, emb)
            rows.append({
                "part": "variants", "model": name, "variant": variant, "device": device.type,
                "threads": torch.get_num_threads() if device.type == "cpu" else None,
                "seconds": args.seconds, "first_call_s": first_s,
                "wall_median_s": stats["wall_median_s"], "wall_min_s": stats["wall_min_s"],
                "rel_max_err_vs_f32": ((out - reference).abs().max()
                                       / reference.abs().max()).item(),
                "snr_db_vs_f32": snr_db(reference, out),
                "first_call_matches": bool(torch.equal(first, out)) if variant == "eager"
                else None,
            })
        del model
        gc.collect()
    return rows


def neg_snr(est: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The official training loss: negative SNR after removing each signal's mean."""
    est = est - est.mean(-1, keepdim=True)
    target = target - target.mean(-1, keepdim=True)
    ratio = target.square().sum(-1) / ((est - target).square().sum(-1) + 1e-8)
    return -(10 * torch.log10(ratio + 1e-8)).mean()


def part_training(args, device) -> list[dict]:
    rows = []
    if device.type == "cpu":
        torch.set_num_threads(max(args.threads))
    batch = args.train_batch
    mix, lips, _ = inputs(2.0, batch, device, use_fixture=False)
    target = 0.5 * mix
    for name in args.models:
        for variant in args.train_variants:
            log(f"[training] {name} {variant}, batch {batch} ...")
            model, _ = build(name, device, use_fixture=False)
            model.train()
            frozen = {id(p) for p in model.lip_frontend.parameters()}
            params = [p for p in model.parameters() if p.requires_grad and id(p) not in frozen]
            optimizer = torch.optim.Adam(params, lr=1e-3)
            separate = model.separate
            if variant.startswith("compile"):
                separate = torch.compile(model.separate, dynamic=False)
            bf16 = variant.endswith("bf16")

            def step(model=model, separate=separate, optimizer=optimizer, bf16=bf16):
                with torch.no_grad():
                    emb = model.lip_frontend(lips)
                with autocast(device, bf16):
                    loss = neg_snr(separate(mix, emb).float(), target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                return loss

            times = []
            try:
                for i in range(args.train_warmup + args.train_steps):
                    sync(device)
                    start = time.perf_counter()
                    step()
                    sync(device)
                    if i >= args.train_warmup:
                        times.append(time.perf_counter() - start)
            except Exception as err:  # noqa: BLE001
                rows.append({"part": "training", "model": name, "variant": variant,
                             "error": f"{type(err).__name__}: {str(err).splitlines()[0]}"})
                continue
            finally:
                del model, optimizer
                gc.collect()
            median = statistics.median(times)
            rows.append({"part": "training", "model": name, "variant": variant,
                         "device": device.type, "batch": batch, "segment_s": 2.0,
                         "threads": torch.get_num_threads() if device.type == "cpu" else None,
                         "step_median_s": median, "step_min_s": min(times),
                         "segments_per_s": batch / median,
                         "peak_cuda_mb": (torch.cuda.max_memory_allocated(device) / 2**20
                                          if device.type == "cuda" else None)})
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
    return rows


# ---------------------------------------------------------------- the official code, same run
def parse_official(specs: list[str]) -> dict[str, tuple[Path, str]]:
    """`NAME=PATH[:module:Class]` -> {NAME: (checkout, "module:Class")}."""
    out = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        if not sep or name not in OFFICIAL:
            raise SystemExit(f"--official-repo {spec!r}: expected NAME=PATH with NAME one of "
                             f"{', '.join(OFFICIAL)}")
        path, _, target = rest.partition(":")
        if not Path(path).is_dir():
            raise SystemExit(f"--official-repo {spec!r}: {path} is not a folder (a checkout "
                             f"of github.com/{OFFICIAL[name][0]})")
        out[name] = (Path(path).resolve(), target or OFFICIAL[name][2])
    return out


def import_official(path: Path, target: str) -> type:
    """The class `module:Class` from the checkout at `path` (its top-level package is dropped
    from `sys.modules` first: IIANet and Dolphin both call theirs `look2hear`)."""
    import importlib

    module_name, _, cls_name = target.partition(":")
    top = module_name.split(".")[0]
    for key in [k for k in sys.modules if k == top or k.startswith(top + ".")]:
        del sys.modules[key]
    sys.path.insert(0, str(path))
    try:
        return getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, RuntimeError) as err:
        if "timm" not in str(err) and "torchvision" not in str(err) or not stub_timm():
            raise
        for key in [k for k in sys.modules if k == top or k.startswith(top + ".")]:
            del sys.modules[key]
        return getattr(importlib.import_module(module_name), cls_name)
    finally:
        sys.path.remove(str(path))


#: set when official code ran with `stub_timm`'s stand-in (reported in the rows)
STUBS: list[str] = []


def stub_timm() -> bool:
    """Official RTFS-Net imports only `timm.models.layers.DropPath` from timm, whose import
    needs torchvision; where that cannot load (here the only torchvision wheel for this torch
    is the CUDA build), stand in our own `DropPath` (the same function: identity in eval,
    per-sample drop + 1 / (1 - p) rescale in training; avss_models/rtfsnet). Returns whether
    the stand-in was installed."""
    import types

    if "timm.models.layers" in sys.modules and STUBS:
        return False
    from avss_models.rtfsnet.blocks import DropPath

    for name in [k for k in sys.modules if k == "timm" or k.startswith("timm.")]:
        del sys.modules[name]
    timm, models, layers = (types.ModuleType(n) for n in
                            ("timm", "timm.models", "timm.models.layers"))
    layers.DropPath = DropPath
    timm.models, models.layers = models, layers
    sys.modules.update({"timm": timm, "timm.models": models, "timm.models.layers": layers})
    STUBS.append("timm.models.layers.DropPath -> avss_models.rtfsnet.blocks.DropPath")
    log(f"[official] timm cannot be imported here: {STUBS[-1]}")
    return True


def family(name: str) -> str:
    return name.split("-")[0].split("+")[0]


def alias_ctcnet_video_block(model: torch.nn.Module) -> None:
    """Official CTCNet (c8112b7) calls `video_block.get_block_block(i)`, a method that does not
    exist, so it cannot run as shipped (spec ARCHITECTURE.md §2.3); the spec's measurements and
    our parity fixtures alias it to `get_video_block`, and so does this benchmark (on the
    official instance's class, at run time; the checkout is not modified)."""
    for module in model.modules():
        block_type = type(module)
        if hasattr(block_type, "get_video_block") and not hasattr(block_type, "get_block_block"):
            block_type.get_block_block = block_type.get_video_block


def build_official(name: str, path: Path, target: str, device: torch.device
                   ) -> torch.nn.Module:
    """The official model with the fixture's constructor arguments and weights, eval mode."""
    folder = SHARED / "data" / "reference" / FIXTURES[name]
    params = json.loads((folder / "params.json").read_text())
    kwargs = {**params["constructor_args"], **OFFICIAL[family(name)][3]}
    if name == "iianet-fast":
        kwargs["num_blocks"] = 10
    model = import_official(path, target)(**kwargs)
    if family(name) == "ctcnet":
        alias_ctcnet_video_block(model)
    state = torch.load(folder / "state_dict.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def part_official(args, device, official: dict[str, tuple[Path, str]]) -> list[dict]:
    """Ours and the official code: same weights, same inputs, same run, interleaved."""
    rows = []
    if args.seconds not in (1, 2):
        raise SystemExit("--official-repo needs --seconds 1 or 2 (the fixtures' inputs)")
    mix, lips, emb = inputs(args.seconds, 1, device, use_fixture=True)
    for name in args.models:
        if family(name) not in official or name == "ctcnet+cbu":
            continue
        path, target = official[family(name)]
        try:
            ours = build(name, device, use_fixture=True)[0]
            theirs = build_official(name, path, target, device)
        except Exception as err:  # noqa: BLE001 - missing deps of the official code, ...
            rows.append({"part": "official", "model": name, "error":
                         f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"})
            continue
        whole = family(name) == "dolphin"  # its video encoder is inside both models
        arg = lips if whole else emb
        ours_fn = (lambda m=ours: m(mix, lips)) if whole else (lambda m=ours: m.separate(mix, emb))
        calls = {"eager": ours_fn, "official": lambda m=theirs, a=arg: m(mix, a)}
        fast_info: dict[str, Any] = {}
        if "fast" in args.paths and device.type == "cpu":
            from avss_bench.models.inference import FastSeparator

            fast = FastSeparator(ours, "now")  # the default path, its graphs built up front
            start = time.perf_counter()
            with torch.inference_mode():
                (fast(mix, lips) if whole else fast.separate(mix, emb))
            fast_info = {"first_call_s": time.perf_counter() - start, **fast.stats}
            calls["fast"] = ((lambda m=fast: m(mix, lips)) if whole
                             else (lambda m=fast: m.separate(mix, emb)))
        with torch.inference_mode():
            reference = theirs(mix, arg).reshape(-1)[:mix.shape[-1]]
            outs = {label: fn().reshape(-1) for label, fn in calls.items() if label != "official"}
        scale = reference.abs().max().item()
        diff = (outs["eager"] - reference).abs().max().item()
        rel = {label: (out - reference).abs().max().item() / scale for label, out in outs.items()}
        for threads in args.threads:
            if device.type == "cpu":
                torch.set_num_threads(threads)
            log(f"[official] {name} forward, {threads} thread(s) ...")
            t = time_interleaved(calls, args.reps, args.warmup, device)
            row = {"part": "official", "kind": "forward", "model": name,
                   "threads": threads, "seconds": args.seconds, "batch": 1,
                   "ours_s": t["eager"]["wall_median_s"],
                   "official_s": t["official"]["wall_median_s"],
                   "ours_cpu_s": t["eager"]["cpu_median_s"],
                   "official_cpu_s": t["official"]["cpu_median_s"],
                   "ratio": t["eager"]["wall_median_s"] / t["official"]["wall_median_s"],
                   "max_abs_diff": diff, "rel_err_eager": rel["eager"],
                   "repo": OFFICIAL[family(name)][0], "official_path": str(path),
                   "official_stubs": list(STUBS), "loadavg": list(os.getloadavg())}
            if "fast" in t:
                row.update(fast_s=t["fast"]["wall_median_s"], fast_cpu_s=t["fast"]["cpu_median_s"],
                           fast_ratio=t["fast"]["wall_median_s"] / t["official"]["wall_median_s"],
                           fast_ratio_cpu=(t["fast"]["cpu_median_s"]
                                           / t["official"]["cpu_median_s"]),
                           rel_err_fast=rel["fast"], fast_info=fast_info)
            rows.append(row)
        if "training" in args.skip:
            continue
        batch = args.train_batch
        bmix, barg = mix.repeat(batch, 1), arg.repeat(batch, *[1] * (arg.ndim - 1))
        target_wave = 0.5 * bmix
        steps = {}
        for label, model in (("ours", ours), ("official", theirs)):
            model.train()
            encoder = getattr(model, "lip_frontend", None) if label == "ours" else getattr(
                model, "video_encoder", None)
            frozen = {id(p) for p in encoder.parameters()} if encoder is not None else set()
            optim = torch.optim.Adam([p for p in model.parameters()
                                      if p.requires_grad and id(p) not in frozen], lr=1e-3)
            fwd = (model if label == "official" or whole else model.separate)

            def step(fwd=fwd, optim=optim, x=bmix, v=barg, y=target_wave):
                loss = neg_snr(fwd(x, v).reshape(x.shape[0], -1)[:, :x.shape[-1]], y)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()

            steps[label] = step
        times: dict[str, list[float]] = {"ours": [], "official": []}
        for i in range(args.train_warmup + args.train_steps):
            for label, step in steps.items():
                sync(device)
                start = time.perf_counter()
                step()
                sync(device)
                if i >= args.train_warmup:
                    times[label].append(time.perf_counter() - start)
        ours_s, theirs_s = statistics.median(times["ours"]), statistics.median(times["official"])
        rows.append({"part": "official", "kind": "training step", "model": name,
                     "threads": torch.get_num_threads(), "seconds": args.seconds,
                     "batch": batch, "ours_s": ours_s, "official_s": theirs_s,
                     "ratio": ours_s / theirs_s, "max_abs_diff": None,
                     "repo": OFFICIAL[family(name)][0], "official_path": str(path)})
        del ours, theirs
        gc.collect()
    return rows


# ---------------------------------------------------------------- report
def _f(value: Any, fmt: str = ".3f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, fmt)
    return str(value)


def markdown(rows: list[dict]) -> str:
    lines = []
    off = [r for r in rows if r["part"] == "official"]
    if off:
        lines += ["| model | pass | threads | official CPU s | ours eager CPU s | eager / official"
                  " (CPU) | ours default (fast) CPU s | **fast / official (CPU)** | fast / "
                  "official (wall) | rel. error fast vs official | one-time compile s | "
                  "load avg |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in off:
            if "error" in r:
                lines.append(f"| {r['model']} | error: {r['error']} |" + " |" * 10)
                continue
            if r["kind"] != "forward":
                lines.append(f"| {r['model']} | {r['kind']} (batch {r['batch']}, wall) | "
                             f"{r['threads']} | {_f(r['official_s'])} | {_f(r['ours_s'])} | "
                             f"{_f(r['ratio'], '.2f')} | | | | | | |")
                continue
            cpu = (r["ours_cpu_s"] / r["official_cpu_s"] if r.get("official_cpu_s") else None)
            info = r.get("fast_info") or {}
            compile_s = sum(v for k, v in info.items() if k.endswith("_compile_s")) or None
            load = r.get("loadavg") or [None]
            lines.append(f"| {r['model']} | forward {r['seconds']:g} s | {r['threads']} | "
                         f"{_f(r['official_cpu_s'])} | {_f(r['ours_cpu_s'])} | {_f(cpu, '.2f')} | "
                         f"{_f(r.get('fast_cpu_s'))} | **{_f(r.get('fast_ratio_cpu'), '.2f')}** | "
                         f"{_f(r.get('fast_ratio'), '.2f')} | {_f(r.get('rel_err_fast'), '.1e')} |"
                         f" {_f(compile_s, '.0f')} | {_f(load[0], '.1f')} |")
        lines.append("")
    fwd = [r for r in rows if r["part"] == "forward"]
    if fwd:
        lines += ["| model | input | threads | wall median s | wall min s | CPU median s | "
                  "official wall median s | ours / official (wall) | ours / official (CPU) |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in fwd:
            lines.append(f"| {r['model']} | {r['seconds']:g} s | {r['threads']} | "
                         f"{_f(r['wall_median_s'])} | {_f(r['wall_min_s'])} | "
                         f"{_f(r['cpu_median_s'])} | {_f(r['official_wall_median_s'])} | "
                         f"{_f(r['ratio_wall_vs_official'], '.2f')} | "
                         f"{_f(r['ratio_cpu_vs_official'], '.2f')} |")
        lines.append("")
    var = [r for r in rows if r["part"] == "variants"]
    if var:
        lines += ["| model | variant | wall median s | first call s | rel. max err vs f32 | "
                  "SNR vs f32 dB |", "|---|---|---:|---:|---:|---:|"]
        for r in var:
            if "error" in r:
                lines.append(f"| {r['model']} | {r['variant']} | error: {r['error']} | | | |")
                continue
            lines.append(f"| {r['model']} | {r['variant']} | {_f(r['wall_median_s'])} | "
                         f"{_f(r['first_call_s'], '.1f')} | {_f(r['rel_max_err_vs_f32'], '.2e')}"
                         f" | {_f(r['snr_db_vs_f32'], '.1f')} |")
        lines.append("")
    train = [r for r in rows if r["part"] == "training"]
    if train:
        lines += ["| model | variant | batch x 2 s | step median s | segments/s |",
                  "|---|---|---:|---:|---:|"]
        for r in train:
            if "error" in r:
                lines.append(f"| {r['model']} | {r['variant']} | error: {r['error']} | | |")
                continue
            lines.append(f"| {r['model']} | {r['variant']} | {r['batch']} | "
                         f"{_f(r['step_median_s'])} | {_f(r['segments_per_s'], '.2f')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[2],
                        help="CPU thread counts for the forward table (the spec has 1 and 2)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--variants", nargs="*", default=None, choices=VARIANTS,
                        help="forward variants vs float32 eager (default: none on CPU, all on "
                             "CUDA)")
    parser.add_argument("--train-variants", nargs="*", default=None, choices=VARIANTS,
                        help="training-step variants (default: eager on CPU, eager and bf16 on "
                             "CUDA)")
    parser.add_argument("--train-batch", type=int, default=None,
                        help="2 s segments per training step (default 1 on CPU, 6 on CUDA)")
    parser.add_argument("--train-steps", type=int, default=2)
    parser.add_argument("--train-warmup", type=int, default=1)
    parser.add_argument("--skip", nargs="*", default=[], choices=["forward", "variants",
                                                                   "training"])
    parser.add_argument("--no-fixtures", dest="fixtures", action="store_false",
                        help="random weights/inputs for the variant parity check")
    parser.add_argument("--json", type=Path, default=None, help="write every row as JSON")
    parser.add_argument("--paths", nargs="+", default=["eager", "fast"], choices=["eager", "fast"],
                        help="our paths timed beside the official code: eager and the default "
                             "fast path (avss_bench.models.inference; its graphs are compiled "
                             "or loaded from the cache before timing)")
    parser.add_argument("--official-repo", action="append", default=[], metavar="NAME=PATH",
                        help="time the official code from this checkout side by side (NAME: "
                             + ", ".join(f"{k} = github.com/{v[0]}" for k, v in OFFICIAL.items())
                             + "; optional ':module:Class' after PATH)")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    if device.type == "cuda":
        # exact fp32 for the float32 rows (TF32 alone exceeds the parity tolerances)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    if args.variants is None:
        args.variants = list(VARIANTS) if device.type == "cuda" else []
    if args.train_variants is None:
        args.train_variants = ["eager", "bf16"] if device.type == "cuda" else ["eager"]
    if args.train_batch is None:
        args.train_batch = 6 if device.type == "cuda" else 1
    numbers_path = SHARED / "spec" / "numbers.json"
    numbers = json.loads(numbers_path.read_text()) if numbers_path.is_file() else {}

    header = {"device": device.type,
              "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                              else platform.processor() or platform.machine()),
              "torch": torch.__version__, "python": platform.python_version(),
              "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])])}
    log(json.dumps(header))
    rows: list[dict] = []
    official = parse_official(args.official_repo)
    if official:
        rows += part_official(args, device, official)
    if "forward" not in args.skip:
        rows += part_forward(args, device, numbers)
    if "variants" not in args.skip and args.variants:
        rows += part_variants(args, device)
    if "training" not in args.skip and args.train_variants:
        rows += part_training(args, device)
    print(f"device: {header['device']} ({header['device_name']}), torch {header['torch']}")
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps({"header": header, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
