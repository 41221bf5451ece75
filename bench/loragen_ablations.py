"""LoRAGen's ablations (paper Table 4, Fig. 3) on one collected zero-shot LoRA zoo.

  python bench/loragen_ablations.py --zoo runs/loragen_lora [--presets default no_moe ...]
      [--out bench/results/loragen_ablations_cpu2.jsonl] [-- --config.train.steps=2000 ...]

For every preset of configs/loragen_lora.py, runs the launcher in runs/loragen_ablation/<preset>
with the zoo, base model and description embeddings copied from --zoo (a finished default run,
so every ablation sees the same adapters), without the noise baselines (bench/preset_sweep.py
does the runs). Prints and appends one JSON line per preset: mean generated accuracy on seen
and unseen tasks, their ratio to the task-specific LoRAs, and the per-task baselines.
"""

import argparse
import os

from preset_sweep import REPO, sweep

PRESETS = ("default", "official_losses", "no_direction", "no_spectral", "no_moe", "no_structural",
           "rho80", "rho100", "top2", "e8", "shared_pool")
SHARED = ["zoo", "base", "conditions_descriptions.npz"]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--zoo", required=True, help="a finished configs/loragen_lora.py run")
  parser.add_argument("--presets", nargs="+", default=list(PRESETS))
  parser.add_argument("--root", default=os.path.join(REPO, "runs", "loragen_ablation"))
  parser.add_argument("--out", default="")
  parser.add_argument("extra", nargs="*", help="more launcher flags, after --")
  args = parser.parse_args()
  sweep("configs/loragen_lora.py", args.zoo, SHARED, args.presets, args.root, args.extra,
        args.out, "loragen_ablations")


if __name__ == "__main__":
  main()
