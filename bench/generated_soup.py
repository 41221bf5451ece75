"""Averaging a task's generated models: does a soup of generated weights beat one of them?

  python bench/generated_soup.py --workdir runs/rpg_unseen_binary \
      [--out bench/results/generated_soup_cpu2.jsonl]

--workdir: a finished run of any method (its generated/ and report.json). Per task, the first
k generated models (k in 2, 5 and all of them) are averaged in weight space into one model,
scored on the task's test split. Appends one JSON line: per split, the mean over tasks of the
generated models' mean accuracy (as the report has it), of each k's averaged model, and of
the originals, the mean per-task ratios to the originals, and the report's best simple
baseline with its mean accuracy.
"""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from paramgen_jax import runfiles  # noqa: E402
from preset_sweep import emit, head_commit, workdir_and_out  # noqa: E402  (bench/)
from paramgen_jax.eval.headline import split_means  # noqa: E402
from paramgen_jax.eval.leaderboard import best_simple_baseline  # noqa: E402
from paramgen_jax.eval.protocol import split_accuracy  # noqa: E402
from paramgen_jax.zoo import spec  # noqa: E402


def averaged_accuracy(inputs, task: str, models, k: int) -> float:
  """Test accuracy (%) of the average of the first k of a task's stacked models."""
  soup = jax.tree_util.tree_map(lambda a: np.asarray(a)[:k].mean(0, keepdims=True), models)
  return float(split_accuracy(inputs.target.apply, soup, inputs.dataset, inputs.by_name[task],
                              "test")[0])


def measure(workdir: str, config: ml_collections.ConfigDict) -> dict:
  report = json.load(open(os.path.join(workdir, runfiles.REPORT_JSON)))
  inputs = spec.build_zoo_inputs(spec.zoo_sections(config), workdir)
  split_of = spec.manifest_splits(workdir)
  generated = runfiles.load_generated(workdir)
  count = min(jax.tree_util.tree_leaves(m)[0].shape[0] for m in generated.values())
  ks = sorted({k for k in (2, 5, count) if k <= count})
  found = {}
  for split in ("seen", "unseen"):
    tasks = [t for t in generated if split_of[t] == split]
    if not tasks:
      continue
    means = split_means(report, split)
    best = best_simple_baseline(report, split)
    original = {r["task"]: r["original"]["mean"] for r in report[split]}
    averaged = {k: np.asarray([averaged_accuracy(inputs, t, generated[t], k) for t in tasks])
                for k in ks}
    found[split] = {
        "tasks": len(tasks), "models_per_task": count,
        "generated": round(means["generated"], 3), "original": round(means["original"], 3),
        "generated_ratio": round(means["ratio"], 4),
        "averaged": {str(k): round(float(a.mean()), 3) for k, a in averaged.items()},
        "averaged_ratio": {str(k): round(float(np.mean(a / [original[t] for t in tasks])), 4)
                           for k, a in averaged.items()},
        **({"best simple baseline": best["baseline"],
            "baseline": round(means[best["baseline"]], 3)} if best else {})}
  return found


def main():
  workdir, out = workdir_and_out(__doc__)
  config = ml_collections.ConfigDict(json.load(open(os.path.join(workdir, runfiles.CONFIG))))
  row = {"bench": "generated_soup", "config_method": config.method,
         "workdir": os.path.basename(os.path.normpath(workdir)), "commit": head_commit(),
         **measure(workdir, config)}
  emit(row, out)


if __name__ == "__main__":
  main()
