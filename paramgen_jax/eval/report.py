"""Evaluation shared by all methods: originals, baselines, generated models, memorization.

`evaluate_zoo` computes everything on the test split, per task:
  * accuracy of the original checkpoints and of the generated models (if any);
  * baselines: the model soup of the task's checkpoints, and originals with Gaussian noise
    of several σ added in the normalized space (per-layer statistics: see below);
  * similarity to the nearest original: IoU of wrong predictions (max over the task's
    originals; for an original, over the *other* originals) and parameter L2 distance.
`write_report` writes report.json (schema below), report.md and similarity.png.

report.json: {"method", "target", "config", "seen": [row], "unseen": [row],
  "baselines": {name: stats}, "similarity": {...}, "timing_s": {...}, ["selection"],
  "nonfinite_generated": count, "inference": {"seconds_per_model", "memory_bytes",
  "generator_params", ...} or null, ["task_baselines": {name: {"seen", "unseen": stats of
  the per-task means, "per_task": {task: mean}, ["chosen": a fitted baseline's
  hyper-parameter and its leave-one-task-out validation accuracies (`eval.fitted`)]}}]},
  a row being {"task", "original": stats, "generated": stats}
  and stats {"best", "mean", "median", "min", "std", "n"} in percent ({} where there is
  nothing, e.g. no generated models; generated stats also count the task's models left out
  for non-finite parameters as "nonfinite").
Baselines aggregate over the seen tasks: 'original' over all their checkpoints, 'soup' over
the per-task soups, 'noise_<σ>' over all noised models. The noise is scaled by per-layer
statistics of the seen tasks' checkpoints (what the generators are fitted on; the whole zoo
when it has no seen task). The same baselines per task, unseen tasks included, are
`ZooEvaluation.baseline_test`; they feed the verdicts.

report.json "verdicts" (written by `eval.entry`; the test is described in `eval.verdicts`):
a list, per split ('seen', 'unseen') and per baseline that split has values for, of
  {"split": "seen" | "unseen",
   "baseline": "original" | "noise_<σ>" | "soup" | a 'task_baselines' name,
   "selection": null, or the split models were picked on (COND P-DIFF's protocol: the
                picked generated model against the picked original, the soup and the
                picked model of the nearest seen task),
   "oracle": true where the baseline is built from an unseen task's own checkpoints,
   "generated_mean", "baseline_mean": mean over the compared tasks of the per-task mean
                test accuracy (%), "difference": generated_mean - baseline_mean,
   "test": "wilcoxon_signed_rank" | "mann_whitney_u" | "none", "unit": "tasks" | "models",
   "n_generated", "n_baseline": tasks (paired, unit 'tasks') or models compared,
   "zero_differences": ties dropped by a signed-rank test, "statistic": W+ or U (null for
                'none'), "p_value": one-sided p for generated > baseline,
   "p_value_worse": one-sided p for generated < baseline, "min_p": the smallest one-sided p
                the sample sizes allow (≥ alpha: the test could not have rejected), "alpha": 0.05,
   "verdict": "beats" | "not distinguishable" | "worse", "sentence": the same in words}.
report.md opens with these sentences ("What the figures mean").
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
from paramgen_jax.eval.protocol import protocol_markdown
from paramgen_jax.eval.stats import summary
from paramgen_jax.eval.verdicts import verdicts_markdown
from paramgen_jax.train.metrics import progress_bar
from paramgen_jax.zoo.accuracy import (accuracy, correct_matrix, num_sets, predict_many,
                                       take_sets)


class ZooEvaluation(NamedTuple):
  """What `evaluate_zoo` finds (see the module docstring for the row and stats schema).

  seen, unseen: report rows; baselines: {name: stats}; similarity: {models: {'accuracy',
  'nn_wrong_iou', 'nn_l2': stats}}; points: {models: (accuracy (K,), NN wrong-IoU (K,))} for
  the plot; generated_test: {task: test accuracy (S,) of each generated model};
  baseline_test: {'original' | 'noise_<σ>' | 'soup': {task: test accuracy (K,) of each of
  the task's baseline models}} for every task, seen and unseen.
  """
  seen: list
  unseen: list
  baselines: dict
  similarity: dict
  points: dict
  generated_test: dict
  baseline_test: dict


def _concat(stacks: Sequence[Any]) -> Any:
  return jax.tree_util.tree_map(lambda *a: np.concatenate(a), *stacks)


class _Scorer:
  """Test-split correctness of stacks of models, each model with its task's labels."""

  def __init__(self, apply_fn, dataset: Dataset, tasks: Mapping[str, Any], budget_bytes: int,
               bar=None):
    self.apply_fn, self.budget_bytes, self.bar = apply_fn, budget_bytes, bar
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
    if self.bar is not None:
      self.bar.update(len(task_names))
    return accuracy(correct, used), used & ~correct


class _Scored(NamedTuple):
  """Models scored on the test split: accuracy (S,) percent, wrong (S, N) bool, parameter
  vectors (S, D)."""
  acc: np.ndarray
  wrong: np.ndarray
  vectors: np.ndarray

  def take(self, index) -> "_Scored":
    return _Scored(self.acc[index], self.wrong[index], self.vectors[index])


def _noise_stats(rows: Sequence[dict], vectors: np.ndarray, layout: Any) -> Any:
  """Per-layer statistics of the seen tasks' checkpoints (the whole zoo if none is seen):
  the generators are fitted on the seen tasks only, so their noise baseline is too."""
  fitted = [i for i, r in enumerate(rows) if r["split"] == "seen"] or list(range(len(rows)))
  return P.fit_layer_stats(vectors[np.asarray(fitted)], layout)


def _noised_models(stacked: Any, rows: Sequence[dict], source: np.ndarray, layout: Any,
                   stats: Any, score: _Scorer, sigmas: Sequence[float],
                   seed: int) -> dict[str, _Scored]:
  """{'noise_<σ>': the originals at `source` with noise σ, scored}, one key per σ."""
  key, noise = jax.random.key(seed), {}
  task_of = [rows[i]["task"] for i in source]
  for k, sigma in enumerate(sigmas):
    noisy = baselines.noised(take_sets(stacked, source), layout, stats, sigma,
                             jax.random.fold_in(key, k))
    noise[f"noise_{sigma:g}"] = _Scored(*score(noisy, task_of),
                                        baselines.stacked_vectors(noisy, layout))
  return noise


def _nearest_original(models: _Scored, originals: _Scored,
                      itself: bool) -> tuple[np.ndarray, np.ndarray]:
  """(NN wrong-IoU (S,), NN L2 (S,)) of each model to the task's originals; with `itself`
  the models are those originals, and none is its own neighbour."""
  iou = similarity.nearest(similarity.wrong_iou(models.wrong, originals.wrong),
                           exclude_diagonal=itself)
  l2 = similarity.nearest(similarity.pairwise_l2(models.vectors, originals.vectors),
                          largest=False, exclude_diagonal=itself)
  return iou, l2


def _task_rows(names: Sequence[str], split_of: Mapping[str, str], members: Mapping[str, Any],
               originals: _Scored, noise: Mapping[str, _Scored], per_sigma: int,
               gen: Mapping[str, _Scored]) -> tuple[dict, dict]:
  """({'seen': [row], 'unseen': [row]}, {models: (accuracies, NN IoUs, NN L2s) lists})."""
  rows = {"seen": [], "unseen": []}
  sims = {name: ([], [], []) for name in ("original", "generated", *noise)}

  def add(name, models, task_originals, itself=False):
    iou, l2 = _nearest_original(models, task_originals, itself)
    for values, new in zip(sims[name], (models.acc, iou, l2)):
      values.extend(new)

  for ti, t in enumerate(names):
    mine = originals.take(members[t])
    add("original", mine, mine, itself=True)
    for name, models in noise.items():
      add(name, models.take(slice(ti * per_sigma, (ti + 1) * per_sigma)), mine)
    if t in gen:
      add("generated", gen[t], mine)
    rows[split_of[t]].append({"task": t, "original": summary(mine.acc),
                              "generated": summary(gen[t].acc) if t in gen else {}})
  return rows, sims


def _seen_baselines(names: Sequence[str], split_of: Mapping[str, str],
                    members: Mapping[str, Any], orig_acc: np.ndarray, soup_acc: np.ndarray,
                    noise: Mapping[str, _Scored], per_sigma: int) -> dict:
  """{'original', 'soup', 'noise_<σ>': stats over the seen tasks' models}."""
  seen = [i for i, t in enumerate(names) if split_of[t] == "seen"]
  seen_rows = np.concatenate([members[names[i]] for i in seen]) if seen else np.zeros(0, int)
  found = {"original": summary(orig_acc[seen_rows]), "soup": summary(soup_acc[seen])}
  keep = np.concatenate([np.arange(i * per_sigma, (i + 1) * per_sigma)
                         for i in seen]) if seen else np.zeros(0, int)
  for name, models in noise.items():
    found[name] = summary(models.acc[keep])
  return found


def _per_task_baselines(names: Sequence[str], members: Mapping[str, Any],
                        orig_acc: np.ndarray, soup_acc: np.ndarray,
                        noise: Mapping[str, _Scored], per_sigma: int) -> dict:
  """{'original', 'noise_<σ>', 'soup': {task: test accuracies (K,)}} for every task."""
  found = {"original": {t: orig_acc[members[t]] for t in names}}
  for name, models in noise.items():
    found[name] = {t: models.acc[i * per_sigma:(i + 1) * per_sigma] for i, t in enumerate(names)}
  found["soup"] = {t: soup_acc[i:i + 1] for i, t in enumerate(names)}
  return found


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
  names = list(dict.fromkeys(r["task"] for r in rows))
  to_score = (len(rows) + len(names) * (1 + noise_per_sigma * len(noise_sigmas))
              + sum(num_sets(models) for t, models in generated.items() if t in names))
  with progress_bar(to_score, 0, "evaluate (models scored)") as bar:
    return _evaluate(_Scorer(target.apply, dataset, tasks, budget_bytes, bar), rows, stacked,
                     names, noise_sigmas, noise_per_sigma, seed, generated)


def _evaluate(score: _Scorer, rows: Sequence[dict], stacked: Any, names: list[str],
              noise_sigmas: Sequence[float], noise_per_sigma: int, seed: int,
              generated: dict) -> ZooEvaluation:
  layout = P.ParamLayout.from_template(take_sets(stacked, 0))
  vectors = baselines.stacked_vectors(stacked, layout)
  split_of = {r["task"]: r["split"] for r in rows}
  members = {t: np.flatnonzero([r["task"] == t for r in rows]) for t in names}
  originals = _Scored(*score(stacked, [r["task"] for r in rows]), vectors)
  soup_acc, _ = score(_concat([baselines.soup(take_sets(stacked, members[t])) for t in names]),
                      names)
  # noise_per_sigma of each task's checkpoints (cycled), task after task, for every σ.
  source = np.concatenate([np.resize(members[t], noise_per_sigma) for t in names])
  noise = _noised_models(stacked, rows, source, layout, _noise_stats(rows, vectors, layout),
                         score, noise_sigmas, seed)
  gen = {t: _Scored(*score(generated[t], [t] * num_sets(generated[t])),
                    baselines.stacked_vectors(generated[t], layout))
         for t in names if t in generated}
  found, sims = _task_rows(names, split_of, members, originals, noise, noise_per_sigma, gen)
  return ZooEvaluation(
      found["seen"], found["unseen"],
      _seen_baselines(names, split_of, members, originals.acc, soup_acc, noise, noise_per_sigma),
      {name: {"accuracy": summary(a), "nn_wrong_iou": summary(i), "nn_l2": summary(d)}
       for name, (a, i, d) in sims.items()},
      points={name: (np.asarray(a), np.asarray(i)) for name, (a, i, _) in sims.items()},
      generated_test={t: models.acc for t, models in gen.items()},
      baseline_test=_per_task_baselines(names, members, originals.acc, soup_acc, noise,
                                        noise_per_sigma))


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
  if "verdicts" in report:
    lines += verdicts_markdown(report["verdicts"])
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
  if report.get("task_baselines"):
    lines += ["## Per-task baselines (mean over tasks of each task's mean test accuracy %)", "",
              "| baseline | seen | unseen |", "|---|---|---|"]
    for name, b in report["task_baselines"].items():
      picked = "".join(f", {k} = {v:g}" for k, v in b.get("chosen", {}).items()
                       if k in ("k", "lambda"))
      label = f"{name} ({picked[2:]}, by leave-one-task-out)" if picked else name
      lines.append(f"| {label} | {_fmt(b['seen'])} | {_fmt(b['unseen'])} |")
    lines.append("")
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
