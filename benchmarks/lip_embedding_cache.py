"""What `train --cache-lip-embeddings` saves: epoch time with and without the cache.

Trains the same run twice on a synthetic prepared corpus (the tests' generator: tones and lip
crops, the layout `prepare` writes), once plain and once with the cache, and reports the wall
time of every epoch from each run's log.csv. Epoch 1 fills the cache (every item embedded
once, one at a time); later epochs reuse it. The model is RTFS-Net at its released size with
its frozen LRW ResNet-18 front-end (random weights: cost does not depend on them), or, with
`--model ctcnet-small`, a small CTCNet separator behind the same front-end (the case of a
light separator behind a heavy frozen encoder). No lip augmentation (the cache needs none).

    python benchmarks/lip_embedding_cache.py --mixtures 8 --epochs 3
    python benchmarks/lip_embedding_cache.py --model ctcnet-small --mixtures 8 --epochs 3
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synthetic import make_prepared_corpus  # noqa: E402

from avss_bench.train.config import load_config  # noqa: E402
from avss_bench.train.loop import train  # noqa: E402

MODELS = {
    "rtfsnet": ["model.name=rtfsnet"],
    "ctcnet-small": ["model.name=ctcnet",
                     "model.config={n_filters: 64, bn_chan: 64, hid_chan: 64, an_repeats: 2, "
                     "fn_repeats: 2, video_chan: 32}"],
}


def epoch_seconds(run: Path) -> list[float]:
    with open(run / "log.csv") as handle:
        return [float(row["seconds"]) for row in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="rtfsnet")
    parser.add_argument("--mixtures", type=int, default=8, help="training mixtures (2 targets)")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = make_prepared_corpus(root / "corpus", {"tr": args.mixtures, "cv": 1, "tt": 1},
                                      seconds=args.seconds)
        overrides = [f"data.root={corpus}", f"data.segment_s={args.seconds}",
                     f"data.batch_size={args.batch}", f"optim.max_epochs={args.epochs}",
                     "data.lip_augment=false", "model.frontend_checkpoint=random",
                     *MODELS[args.model]]
        result: dict[str, object] = {"model": args.model, "mixtures": args.mixtures,
                                     "seconds": args.seconds, "batch": args.batch,
                                     "threads": args.threads, "torch": torch.__version__}
        for name, cache in (("plain", False), ("cached", True)):
            start = time.monotonic()
            summary = train(load_config(None, overrides), root / name, quiet=True,
                            cache_lip_embeddings=cache)
            result[name] = {"epoch_seconds": epoch_seconds(root / name),
                            "total_seconds": round(time.monotonic() - start, 1),
                            "cache": summary.get("lip_embedding_cache")}
        plain, cached = result["plain"]["epoch_seconds"], result["cached"]["epoch_seconds"]
        later = (sum(plain[1:]) / sum(cached[1:])) if len(plain) > 1 else None
        result["speedup_after_epoch_1"] = None if later is None else round(later, 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
