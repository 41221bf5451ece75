#!/usr/bin/env bash
# Every row of README's "Speed against the official PyTorch code" table, one after the other
# (run on a quiet machine); raw JSON lines are appended to bench/results/official_rows_<tag>.jsonl.
#   bash bench/official_rows.sh cpu2
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-cpu2}
out=bench/results/official_rows_${tag}.jsonl
py=${PYTHON:-.venv/bin/python}
run() { "$py" "$@" | tee /dev/stderr | grep '^{' >> "$out"; }
run bench/rpg_step.py --backbone mamba2
run bench/rpg_step.py --backbone mamba
run bench/rpg_step.py --backbone lstm
run bench/rpg_step.py --backbone transformer
run bench/rpg_step.py --denoiser-only
run bench/rpg_step.py --denoiser-only --set generator.denoiser_conditioning=shared
run bench/pdiff_step.py --part autoencoder
run bench/pdiff_step.py --part latent
run bench/collect_zoo.py
run bench/rpg_generation.py --target --modes partial
