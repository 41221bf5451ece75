"""A report's headline per split: what a reader, a sweep or the leaderboard quotes first.

    split_means(report, "unseen")
    # {'generated': 93.16, 'original': 97.92, 'ratio': 0.951, 'tasks': 20,
    #  'nearest seen task': 88.05}

`report` is report.json's content (schema in `paramgen_jax.eval.report`). Every method's eval
ends by printing `headline_lines` (one definition of the ratio: the mean over tasks of
generated / original).
"""

from __future__ import annotations

from typing import Mapping

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


def verdict_groups(report: dict) -> dict[str, dict[str, list[str]]]:
  """{split: {'beats' | 'not distinguishable' | 'worse': [baseline, ...]}} from the report's
  verdicts (`eval.verdicts`), leaving out COND P-DIFF's selection protocol and the baselines
  built from an unseen task's own checkpoints (references, in report.md)."""
  found: dict[str, dict[str, list[str]]] = {}
  for v in report.get("verdicts", []):
    if v.get("selection") or v.get("oracle"):
      continue
    by_verdict = found.setdefault(v["split"], {})
    by_verdict.setdefault(v["verdict"], []).append(v["baseline"])
  return found


def verdict_text(verdicts: Mapping[str, Mapping[str, list[str]]], sep: str = "<br>") -> str:
  """'seen: beats soup; ties original; worse than noise_0.01' (one clause per split)."""
  words = (("beats", "beats"), ("not distinguishable", "ties"), ("worse", "worse than"))
  clauses = []
  for split, by_verdict in verdicts.items():
    parts = [f"{word} {', '.join(by_verdict[key])}" for key, word in words
             if by_verdict.get(key)]
    clauses.append(f"{split}: " + "; ".join(parts))
  return sep.join(clauses)


def headline_lines(report: dict, path: str) -> list[str]:
  """What every method's eval prints last: per split, generated vs original (mean over tasks
  of generated / original), the verdicts in one line, and where the report is."""
  lines = [headline_line(report.get("method", "generated"), split, split_means(report, split))
           for split in ("seen", "unseen") if split_means(report, split)]
  if not lines:
    lines.append("no generated models to score (run --mode=sample first)")
  groups = verdict_groups(report)
  if groups:
    lines.append("verdicts (one-sided, alpha 0.05): " + verdict_text(groups, sep=" | "))
  lines.append(f"report: {path}")
  return lines
