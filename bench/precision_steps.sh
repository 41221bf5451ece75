#!/usr/bin/env bash
# Training steps in float32 and with bfloat16 compute (float32 master parameters: the
# engine's train.compute_dtype), the same steps as bench/official_rows.sh, one after the
# other on a quiet machine; JSON lines appended to bench/results/precision_steps_<tag>.jsonl.
#   bash bench/precision_steps.sh cpu2
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-cpu2}
out=bench/results/precision_steps_${tag}.jsonl
py=${PYTHON:-.venv/bin/python}
run() { "$py" "$@" | tee /dev/stderr | grep '^{' >> "$out"; }
for dtype in float32 bfloat16; do
  run bench/rpg_step.py --backbone mamba2 --set train.compute_dtype=$dtype
  run bench/rpg_step.py --denoiser-only --set train.compute_dtype=$dtype
  run bench/pdiff_step.py --part autoencoder --set autoencoder_train.compute_dtype=$dtype
  run bench/pdiff_step.py --part latent --set train.compute_dtype=$dtype
done
