"""LoRAGen's ablations (paper Table 4, Fig. 3) on one collected zero-shot LoRA zoo.

  python bench/loragen_ablations.py --zoo runs/loragen_lora [--presets default no_moe ...]
      [--out bench/results/loragen_ablations_cpu2.jsonl] [-- --config.train.steps=2000 ...]

For every preset of configs/loragen_lora.py, runs the launcher in runs/loragen_ablation/<preset>
with the zoo, base model and description embeddings copied from --zoo (a finished default run,
so every ablation sees the same adapters), without the noise baselines. Prints and appends
one JSON line per preset (launcher flags after `--` apply to every run, e.g. shorter training
for a quick sweep): mean generated accuracy on seen and unseen tasks (each task's mean
over its generated adapters, no selection), their ratio to the task-specific LoRAs, and the
nearest-seen-task baseline.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS = ("default", "no_direction", "no_spectral", "rec_only", "no_moe", "no_structural",
           "rho80", "rho100", "top2", "e8", "shared_pool")
SHARED = ("zoo", "base", "conditions_descriptions.npz")


def split_means(report: dict, split: str) -> dict:
  rows = [r for r in report[split] if r["generated"]]
  gen = sum(r["generated"]["mean"] for r in rows) / len(rows)
  orig = sum(r["original"]["mean"] for r in rows) / len(rows)
  out = {"generated": round(gen, 2), "original": round(orig, 2), "ratio": round(gen / orig, 4)}
  nearest = report["task_baselines"]["nearest seen task"][split]
  if nearest:
    out["nearest_seen"] = round(nearest["mean"], 2)
  return out


def run(preset: str, zoo: str, root: str, extra: list[str]) -> dict:
  workdir = os.path.join(root, preset)
  os.makedirs(workdir, exist_ok=True)
  for name in SHARED:
    source, target = os.path.join(zoo, name), os.path.join(workdir, name)
    if not os.path.exists(target):
      (shutil.copytree if os.path.isdir(source) else shutil.copy)(source, target)
  start = time.perf_counter()
  config = "configs/loragen_lora.py" + ("" if preset == "default" else ":" + preset)
  result = subprocess.run([sys.executable, "launch/main.py", f"--config={config}",
                           f"--workdir={workdir}", "--config.eval.noise_sigmas=()", *extra],
                          cwd=REPO, capture_output=True, text=True)
  if result.returncode != 0:
    sys.exit(f"{preset}: the run failed: {result.stderr.strip().splitlines()[-1]}")
  report = json.load(open(os.path.join(workdir, "report.json")))
  return {"bench": "loragen_ablations", "preset": preset, "extra": extra,
          "seen": split_means(report, "seen"),
          "unseen": split_means(report, "unseen"),
          "seconds": round(time.perf_counter() - start, 1)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--zoo", required=True, help="a finished configs/loragen_lora.py run")
  parser.add_argument("--presets", nargs="+", default=list(PRESETS))
  parser.add_argument("--root", default=os.path.join(REPO, "runs", "loragen_ablation"))
  parser.add_argument("--out", default="")
  parser.add_argument("extra", nargs="*", help="more launcher flags, after --")
  args = parser.parse_args()
  for name in SHARED:
    if not os.path.exists(os.path.join(args.zoo, name)):
      sys.exit(f"--zoo {args.zoo} has no {name}: run configs/loragen_lora.py there first")
  for preset in args.presets:
    row = run(preset, os.path.abspath(args.zoo), args.root, args.extra)
    print(json.dumps(row), flush=True)
    if args.out:
      with open(args.out, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
  main()
