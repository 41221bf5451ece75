"""A report's headline per split: what a reader, a sweep or the leaderboard quotes first.

    split_means(report, "unseen")
    # {'generated': 93.16, 'original': 97.92, 'ratio': 0.951, 'tasks': 20,
    #  'nearest seen task': 88.05}

`report` is report.json's content (schema in `paramgen_jax.eval.report`).
"""

from __future__ import annotations

import numpy as np


def split_means(report: dict, split: str) -> dict:
  """{'generated', 'original': mean over the split's generated tasks of each task's mean
  accuracy (%), 'ratio': mean over those tasks of generated / original, 'tasks': how many,
  and each per-task baseline's mean ('task_baselines')}; {} when nothing was generated."""
  rows = [r for r in report.get(split, []) if r["generated"]]
  if not rows:
    return {}
  gen = np.asarray([r["generated"]["mean"] for r in rows], np.float64)
  orig = np.asarray([r["original"]["mean"] for r in rows], np.float64)
  out = {"generated": float(gen.mean()), "original": float(orig.mean()),
         "ratio": float(np.mean(gen / orig)), "tasks": len(rows)}
  for name, found in report.get("task_baselines", {}).items():
    if found.get(split):
      out[name] = float(found[split]["mean"])
  return out


def headline_line(label: str, split: str, means: dict) -> str:
  """One printed line, e.g. 'rpg unseen (20 tasks): generated 95.19% vs original 97.92%
  (mean ratio 0.972); nearest seen task 88.05%'."""
  base = {k: v for k, v in means.items() if k not in ("generated", "original", "ratio", "tasks")}
  extra = "".join(f"; {name} {value:.2f}%" for name, value in base.items())
  return (f"{label} {split} ({means['tasks']} tasks): generated {means['generated']:.2f}% vs "
          f"original {means['original']:.2f}% (mean ratio {means['ratio']:.4f}){extra}")
