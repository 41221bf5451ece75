"""A default run's accuracy and stage times with bfloat16 compute, against float32.

  python bench/precision_runs.py --config rpg_convnext [--reuse runs/rpg_convnext]
      [--variants float32 bf16_generation bf16_training] [--root runs/precision]
      [--out bench/results/precision_runs_cpu2.jsonl]

Variants, each in <root>/<config>/<variant>:
  float32          the default run from an empty workdir (or a copy of --reuse, a finished
                   default run of this commit, e.g. a leaderboard entry's workdir);
  bf16_generation  float32's trained generator, sample and eval again with
                   sample.compute_dtype=bfloat16 (the mapping: generate.compute_dtype);
  bf16_training    float32's zoo, every train section with compute_dtype=bfloat16 and
                   bfloat16 generation.
Prints one JSON line per variant (appended to --out): the headline per split (mean accuracy
of generated and original models, the mean per-task ratio), each stage's seconds and the
commit; each variant's report.json is kept beside it (precision_reports_cpu2/, with every
baseline and verdict). Accuracy is what it measures; its stage times are recorded, not published (speed is
bench/precision_steps.sh's, measured alone).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from paramgen_jax import configlib  # noqa: E402
from bench.preset_sweep import head_commit, rounded_means  # noqa: E402
from paramgen_jax.zoo.spec import copy_zoo  # noqa: E402

VARIANTS = ("float32", "bf16_generation", "bf16_training")


def launch(config: str, workdir: str, *flags: str) -> None:
  command = [sys.executable, "launch/main.py", f"--config=configs/{config}.py",
             f"--workdir={workdir}", *flags]
  result = subprocess.run(command, cwd=REPO)
  if result.returncode != 0:
    sys.exit(f"{' '.join(command)} exited {result.returncode}")


def generation_flag(config: str) -> str:
  method = configlib.load_config(config).method
  return f"--config.{'generate' if method == 'mapping' else 'sample'}.compute_dtype=bfloat16"


def run_variant(config: str, variant: str, root: str, reuse: str | None) -> str:
  workdir, base = os.path.join(root, variant), os.path.join(root, "float32")
  if os.path.exists(os.path.join(workdir, "report.json")):
    return workdir
  if variant == "float32":
    if reuse:
      shutil.copytree(reuse, workdir, dirs_exist_ok=True)
    launch(config, workdir)
  elif variant == "bf16_generation":
    shutil.copytree(base, workdir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("generated", "report.*", "timing.json"))
    for mode in ("sample", "eval"):
      launch(config, workdir, f"--mode={mode}", generation_flag(config))
  else:
    copy_zoo(base, workdir)
    sections = configlib.train_sections(configlib.load_config(config))
    launch(config, workdir, generation_flag(config),
           *(f"--config.{name}.compute_dtype=bfloat16" for name in sections))
  return workdir


def row(config: str, variant: str, workdir: str) -> dict:
  report = json.load(open(os.path.join(workdir, "report.json")))
  timing = json.load(open(os.path.join(workdir, "timing.json")))
  return {"bench": "precision_run", "config": config, "variant": variant,
          "commit": head_commit(), "seen": rounded_means(report, "seen"),
          "unseen": rounded_means(report, "unseen"),
          "stage_s": {k: round(v["seconds"] if isinstance(v, dict) else v, 1)
                      for k, v in timing.items()}}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True, help="a config name, e.g. rpg_convnext")
  parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
  parser.add_argument("--reuse", default=None, help="a finished default run to copy")
  parser.add_argument("--root", default=os.path.join(REPO, "runs", "precision"))
  parser.add_argument("--out", default=os.path.join(REPO, "bench", "results",
                                                    "precision_runs_cpu2.jsonl"))
  args = parser.parse_args()
  root = os.path.join(args.root, args.config)
  reports = os.path.join(os.path.dirname(args.out), "precision_reports_cpu2")
  os.makedirs(reports, exist_ok=True)
  for variant in args.variants:
    workdir = run_variant(args.config, variant, root, args.reuse)
    found = row(args.config, variant, workdir)
    print(json.dumps(found), flush=True)
    with open(args.out, "a") as f:
      f.write(json.dumps(found) + "\n")
    shutil.copy(os.path.join(workdir, "report.json"),
                os.path.join(reports, f"{args.config}_{variant}.json"))


if __name__ == "__main__":
  main()
