#!/usr/bin/env bash
# Every row of bench/official_rows.sh in float32 and with bfloat16 compute (float32 master
# parameters and sampler state: train.compute_dtype, sample.compute_dtype; `precision`),
# one after the other on a quiet machine; JSON lines appended to
# bench/results/precision_steps_<tag>.jsonl. The zoo-collection row has no generator to
# run in bfloat16 and is left out.
#   bash bench/precision_steps.sh cpu2
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-cpu2}
out=bench/results/precision_steps_${tag}.jsonl
py=${PYTHON:-.venv/bin/python}
run() { "$py" "$@" | tee /dev/stderr | grep '^{' >> "$out"; }
for dtype in float32 bfloat16; do
  for backbone in mamba2 mamba lstm transformer; do
    run bench/rpg_step.py --no-profile --backbone $backbone --set train.compute_dtype=$dtype
  done
  run bench/rpg_step.py --no-profile --denoiser-only --set train.compute_dtype=$dtype
  run bench/rpg_step.py --no-profile --denoiser-only --set train.compute_dtype=$dtype \
    generator.denoiser_conditioning=shared
  run bench/pdiff_step.py --no-profile --part autoencoder \
    --set autoencoder_train.compute_dtype=$dtype
  run bench/pdiff_step.py --no-profile --part latent --set train.compute_dtype=$dtype
  run bench/rpg_generation.py --target --modes partial --compute-dtype $dtype
done
