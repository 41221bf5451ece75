#!/usr/bin/env bash
# Scaling bench on one GPU (H200): time and XLA-planned peak memory of generating one model
# against its parameter count, for RPG, p-diff, D2NWG, the mapping and LoRAGen (default
# configs, untrained generators). Targets of 1M to 268M parameters in 1024x1024 dense layers
# (wide layers keep the compile time down: it grows with the number of layers). Each method
# stops at a plan over 60 GiB, at a one-model time that would pass 4 s at the next size, or
# when the next size would pass its share of 85 s. Writes $OUT/scaling_h200.jsonl and
# $OUT/scaling_h200.png (the figure needs matplotlib; the rows are written without it).
# About 120 s in all, JAX start and compiles included.
#
#   PYTHONPATH=. OUT=/tmp/out bash bench/scaling_gpu.sh          # from the repo root
set -euo pipefail
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
# The GPU is not shared: let the allocator take what XLA's plans need, no more.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
python bench/scaling.py --width 1024 \
  --params 1048576 4194304 16777216 67108864 268435456 \
  --budget-gb 60 --point-seconds 4 --method-seconds 30 --total-seconds 85 --repeats 3 \
  --out "$OUT/scaling_h200.jsonl"
ls -l "$OUT"
