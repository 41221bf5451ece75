"""Evaluation shared by all methods: originals, baselines, generated models, memorization.

`evaluate_zoo` computes everything on the test split, per task:
  * accuracy of the original checkpoints and of the generated models (if any);
  * baselines: the model soup of the task's checkpoints, and originals with Gaussian noise
    of several σ added in the normalized space (per-layer statistics of the whole zoo);
  * similarity to the nearest original: IoU of wrong predictions (max over the task's
    originals; for an original, over the *other* originals) and parameter L2 distance.
`write_report` writes report.json (schema below), report.md and similarity.png.

report.json: {"method", "target", "config", "seen": [row], "unseen": [row],
  "baselines": {name: stats}, "similarity": {...}, "timing_s": {...}, ["selection"],
  "nonfinite_generated": count}, a row being {"task", "original": stats, "generated": stats}
  and stats {"best", "mean", "median", "min", "std", "n"} in percent ({} where there is
  nothing, e.g. no generated models; generated stats also count the task's models left out
  for non-finite parameters as "nonfinite").
Baselines aggregate over the seen tasks: 'original' over all their checkpoints, 'soup' over
the per-task soups, 'noise_<σ>' over all noised models. The noise is scaled by per-layer
statistics of the seen tasks' checkpoints (what the generators are fitted on; the whole zoo
when it has no seen task).
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, NamedTuple, Sequence

import jax
import numpy as np

from paramgen_jax import memory
from paramgen_jax import params as P
from paramgen_jax.data import Dataset
from paramgen_jax.eval import baselines, similarity
from paramgen_jax.eval.accuracy import (accuracy, correct_matrix, num_sets, predict_many,
                                        take_sets)
from paramgen_jax.eval.protocol import protocol_markdown
from paramgen_jax.eval.stats import summary


class ZooEvaluation(NamedTuple):
  """What `evaluate_zoo` finds (see the module docstring for the row and stats schema).

  seen, unseen: report rows; baselines: {name: stats}; similarity: {models: {'accuracy',
  'nn_wrong_iou', 'nn_l2': stats}}; points: {models: (accuracy (K,), NN wrong-IoU (K,))} for
  the plot; generated_test: {task: test accuracy (S,) of each generated model}.
  """
  seen: list
  unseen: list
  baselines: dict
  similarity: dict
  points: dict
  generated_test: dict


def _concat(stacks: Sequence[Any]) -> Any:
  return jax.tree_util.tree_map(lambda *a: np.concatenate(a), *stacks)


class _Scorer:
  """Test-split correctness of stacks of models, each model with its task's labels."""

  def __init__(self, apply_fn, dataset: Dataset, tasks: Mapping[str, Any], budget_bytes: int):
    self.apply_fn, self.budget_bytes = apply_fn, budget_bytes
    self.x, y = dataset.x_test, dataset.y_test
    self.labels = {name: task.relabel(y) for name, task in tasks.items()}

  def __call__(self, stacked: Any, task_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """-> (accuracy (S,) percent, wrong (S, N) bool over each task's examples)."""
    if not task_names:
      return np.zeros(0), np.zeros((0, len(self.x)), bool)
    labels = np.stack([self.labels[t][0] for t in task_names])
    used = np.stack([self.labels[t][1] for t in task_names])
    predictions = predict_many(self.apply_fn, stacked, self.x, budget_bytes=self.budget_bytes)
    correct = correct_matrix(predictions, labels, used)
    return accuracy(correct, used), used & ~correct


def evaluate_zoo(target: Any, dataset: Dataset, tasks: Mapping[str, Any], rows: Sequence[dict],
                 stacked: Any, *, noise_sigmas: Sequence[float], noise_per_sigma: int,
                 seed: int = 0, generated: Mapping[str, Any] | None = None,
                 budget_bytes: int = memory.DEFAULT_BUDGET_BYTES) -> ZooEvaluation:
  """The 'seen', 'unseen', 'baselines' and 'similarity' parts of a report (see module doc).

  Args:
    target: the zoo's target model (`target.apply(variables, x)`).
    dataset: its data (test split used).
    tasks: task name -> Task, for every task in `rows`.
    rows: the zoo's manifest rows; stacked: their variables, (len(rows), ...).
    noise_sigmas, noise_per_sigma: the noise baseline.
    seed: seeds the noise.
    generated: task name -> stacked generated variables, for the tasks a method generated.
    budget_bytes: the temporary memory one chunk of predictions may take (`predict_many`).
  """
  generated = dict(generated or {})
  score = _Scorer(target.apply, dataset, tasks, budget_bytes)
  layout = P.ParamLayout.from_template(take_sets(stacked, 0))
  vectors = baselines.stacked_vectors(stacked, layout)
  names = list(dict.fromkeys(r["task"] for r in rows))
  split_of = {r["task"]: r["split"] for r in rows}
  fitted = [i for i, r in enumerate(rows) if r["split"] == "seen"] or list(range(len(rows)))
  stats = P.fit_layer_stats(vectors[np.asarray(fitted)], layout)
  members = {t: np.flatnonzero([r["task"] == t for r in rows]) for t in names}

  orig_acc, orig_wrong = score(stacked, [r["task"] for r in rows])
  soup_acc, _ = score(_concat([baselines.soup(take_sets(stacked, members[t])) for t in names]), names)
  key = jax.random.key(seed)
  noise = {}
  for k, sigma in enumerate(noise_sigmas):
    source = np.concatenate([np.resize(members[t], noise_per_sigma) for t in names])
    noisy = baselines.noised(take_sets(stacked, source), layout, stats, sigma,
                             jax.random.fold_in(key, k))
    task_of = [rows[i]["task"] for i in source]
    acc, wrong = score(noisy, task_of)
    noise[f"noise_{sigma:g}"] = (source, acc, wrong, baselines.stacked_vectors(noisy, layout))
  gen_names = [t for t in names if t in generated]
  gen = {}
  for t in gen_names:
    acc, wrong = score(generated[t], [t] * num_sets(generated[t]))
    gen[t] = (acc, wrong, baselines.stacked_vectors(generated[t], layout))

  result_rows = {"seen": [], "unseen": []}
  sims = {"original": ([], [], []), "generated": ([], [], [])}
  sims.update({name: ([], [], []) for name in noise})
  for ti, t in enumerate(names):
    idx = members[t]
    w, v = orig_wrong[idx], vectors[idx]
    iou_nn = similarity.nearest(similarity.wrong_iou(w, w), exclude_diagonal=True)
    l2_nn = similarity.nearest(similarity.pairwise_l2(v, v), largest=False, exclude_diagonal=True)
    sims["original"][0].extend(orig_acc[idx]); sims["original"][1].extend(iou_nn)
    sims["original"][2].extend(l2_nn)
    for name, (source, acc, wrong, vecs) in noise.items():
      mine = slice(ti * noise_per_sigma, (ti + 1) * noise_per_sigma)
      sims[name][0].extend(acc[mine])
      sims[name][1].extend(similarity.nearest(similarity.wrong_iou(wrong[mine], w)))
      sims[name][2].extend(similarity.nearest(similarity.pairwise_l2(vecs[mine], v), largest=False))
    generated_stats = {}
    if t in gen:
      acc, wrong, vecs = gen[t]
      generated_stats = summary(acc)
      sims["generated"][0].extend(acc)
      sims["generated"][1].extend(similarity.nearest(similarity.wrong_iou(wrong, w)))
      sims["generated"][2].extend(similarity.nearest(similarity.pairwise_l2(vecs, v),
                                                     largest=False))
    result_rows[split_of[t]].append({"task": t, "original": summary(orig_acc[idx]),
                                     "generated": generated_stats})

  seen = [i for i, t in enumerate(names) if split_of[t] == "seen"]
  seen_rows = np.concatenate([members[names[i]] for i in seen]) if seen else np.zeros(0, int)
  report_baselines = {"original": summary(orig_acc[seen_rows]), "soup": summary(soup_acc[seen])}
  for name, (source, acc, _, _) in noise.items():
    keep = np.concatenate([np.arange(i * noise_per_sigma, (i + 1) * noise_per_sigma)
                           for i in seen]) if seen else np.zeros(0, int)
    report_baselines[name] = summary(acc[keep])
  report_similarity = {name: {"accuracy": summary(a), "nn_wrong_iou": summary(i),
                              "nn_l2": summary(d)} for name, (a, i, d) in sims.items()}
  return ZooEvaluation(
      result_rows["seen"], result_rows["unseen"], report_baselines, report_similarity,
      points={name: (np.asarray(a), np.asarray(i)) for name, (a, i, _) in sims.items()},
      generated_test={t: acc for t, (acc, _, _) in gen.items()})


def _fmt(stats: dict, key: str = "mean", spec: str = ".2f") -> str:
  return format(stats[key], spec) if stats else "–"


def write_report(workdir: str, report: dict,
                 points: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
  """Writes report.json (`report`, JSON-able), report.md and similarity.png (`points`)."""
  report["similarity"]["plot"] = "similarity.png"
  with open(os.path.join(workdir, "report.json"), "w") as f:
    json.dump(report, f, indent=1)
  _plot(points, os.path.join(workdir, "similarity.png"))
  lines = [f"# {report['method']} on {report['target']}", ""]
  if report.get("nonfinite_generated"):
    lines += [f"**{report['nonfinite_generated']} generated model(s) had non-finite parameters "
              "and are left out of every figure below** (per task: `generated.nonfinite` in "
              "report.json).", ""]
  for split in ("seen", "unseen"):
    rows = report[split]
    if not rows:
      continue
    gen = [r["generated"]["mean"] for r in rows if r["generated"]]
    lines += [f"## {split} tasks ({len(rows)})", "",
              f"mean over tasks of the original mean accuracy: "
              f"{np.mean([r['original']['mean'] for r in rows]):.2f}%"
              + (f"; of the generated mean accuracy: {np.mean(gen):.2f}%" if gen else
                 "; no generated models"), "",
              "| task | original best | original mean | generated best | generated mean |",
              "|---|---|---|---|---|"]
    for r in rows[:20]:
      lines.append(f"| {r['task']} | {_fmt(r['original'], 'best')} | {_fmt(r['original'])} | "
                   f"{_fmt(r['generated'], 'best')} | {_fmt(r['generated'])} |")
    if len(rows) > 20:
      lines.append(f"| ... {len(rows) - 20} more in report.json | | | | |")
    lines.append("")
  if report.get("selection"):
    lines += protocol_markdown(report["selection"])
  lines += ["## Baselines (seen tasks, test accuracy %)", "",
            "| baseline | best | mean | median | min | std | n |", "|---|---|---|---|---|---|---|"]
  for name, s in report["baselines"].items():
    lines.append(f"| {name} | " + " | ".join(
        (f"{s[k]:.2f}" if k != "n" else str(s[k])) if s else "–"
        for k in ("best", "mean", "median", "min", "std", "n")) + " |")
  lines += ["", "## Similarity to the nearest original", "",
            "| models | mean accuracy | mean NN wrong-IoU | mean NN L2 |", "|---|---|---|---|"]
  for name, s in report["similarity"].items():
    if isinstance(s, dict) and "accuracy" in s:
      lines.append(f"| {name} | {_fmt(s['accuracy'])} | {_fmt(s['nn_wrong_iou'])} | "
                   f"{_fmt(s['nn_l2'], spec='.3g')} |")
  lines += ["", "![accuracy against nearest-neighbour similarity](similarity.png)", ""]
  with open(os.path.join(workdir, "report.md"), "w") as f:
    f.write("\n".join(lines))


def _plot(points: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(6, 4.5))
  for name, (acc, iou) in points.items():
    keep = ~np.isnan(iou)
    if keep.any():
      ax.scatter(iou[keep], acc[keep], s=10, alpha=0.6, label=name)
  ax.set_xlabel("wrong-prediction IoU with the nearest original")
  ax.set_ylabel("test accuracy (%)")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
