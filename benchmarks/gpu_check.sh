#!/usr/bin/env bash
# GPU check (issue 11.7): one script, under 8 minutes on one GPU.
#   1. float32 parity on CUDA with TF32 off for every bundled model (fixtures in
#      ../shared/data/reference), and one bf16 + one fp16 (GradScaler) training step per model
#      (benchmarks/gpu_parity.py);
#   2. a 1-GPU torchrun (nccl) training of IIANet (lrs2/iianet recipe, random front-end, 1 s
#      segments) for 4 steps straight, and for 2 steps then --resume to 4: max weight difference;
#   3. forward latency of IIANet, IIANet-fast and CTCNet at batch 1 / 2 s
#      (benchmarks/model_speed.py; the README's 110.11 ms is the number to beat).
# Usage: benchmarks/gpu_check.sh [--device cuda|cpu] [OUT_DIR]
#   --device cpu is a dry mode: the same steps at CPU-friendly sizes (few models, gloo).
set -euo pipefail
DEVICE=cuda
if [[ "${1:-}" == "--device" ]]; then DEVICE="$2"; shift 2; fi
OUT="${1:-gpu_check_out}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT:$ROOT/baselines:$ROOT/tests${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
START=$(date +%s)
stamp() { echo "[gpu_check $(( $(date +%s) - START )) s] $*"; }

if [[ "$DEVICE" == cpu ]]; then
  PARITY_MODELS=(--models lipfrontend iianet5 ctcnet)
  SECONDS_=0.4; SPEED=(--device cpu --threads 2 --reps 1 --warmup 0)
else
  PARITY_MODELS=(); SECONDS_=1.0; SPEED=(--device cuda --reps 20 --warmup 3)
fi

stamp "1/3 float32 parity (TF32 off) + bf16/fp16 training steps on $DEVICE"
python benchmarks/gpu_parity.py --device "$DEVICE" "${PARITY_MODELS[@]}" \
  --json "$OUT/parity.json"

stamp "2/3 torchrun training with resume"
python - "$OUT/corpus" "$SECONDS_" <<'PY'
import sys
from pathlib import Path
from synthetic import make_prepared_corpus
if not Path(sys.argv[1], "manifests").exists():
    make_prepared_corpus(Path(sys.argv[1]), {"tr": 8, "cv": 1, "tt": 1}, seconds=float(sys.argv[2]))
PY
TRAIN=(-m avss_bench.cli train -r lrs2/iianet --data "$OUT/corpus" --random-frontend --quiet
       --device "$DEVICE" "data.segment_s=$SECONDS_" data.batch_size=2 data.num_workers=0
       optim.max_epochs=1)
if [[ "$DEVICE" == cpu ]]; then
  TRAIN+=("model.config={num_blocks: 3, av_cycles: 2, in_channels: 32, out_channels: 16}")
fi
RUN=(python -m torch.distributed.run --standalone --nproc_per_node 1)  # = torchrun
rm -rf "$OUT/straight" "$OUT/resumed"
"${RUN[@]}" "${TRAIN[@]}" --out "$OUT/straight" optim.max_steps=4
"${RUN[@]}" "${TRAIN[@]}" --out "$OUT/resumed" optim.max_steps=2
"${RUN[@]}" "${TRAIN[@]}" --out "$OUT/resumed" --resume optim.max_steps=4
python - "$OUT" <<'PY'
import json, sys, torch
out = sys.argv[1]
a = torch.load(f"{out}/straight/last.pt", weights_only=True)
b = torch.load(f"{out}/resumed/last.pt", weights_only=True)
diff = max(float((a["model"][k].double() - b["model"][k].double()).abs().max())
           for k in a["model"] if a["model"][k].numel())
row = {"steps": [a["step"], b["step"]], "max_weight_diff_resume": diff,
       "finite": all(bool(torch.isfinite(v).all()) for v in b["model"].values()
                     if v.is_floating_point())}
print(json.dumps(row))
json.dump(row, open(f"{out}/resume.json", "w"))
assert a["step"] == b["step"] == 4 and row["finite"], row
PY

stamp "3/3 forward latency, batch 1, 2 s"
python benchmarks/model_speed.py "${SPEED[@]}" --models iianet iianet-fast ctcnet \
  --skip variants training --json "$OUT/speed.json"
stamp "done: $OUT/parity.json $OUT/resume.json $OUT/speed.json"
