"""The one evaluation entry point: any method's generated models, scored against its zoo.

    report = evaluate_generated(spec.zoo_sections(config), workdir, "rpg",
                                generated={task: stacked, ...}, run_config=config_json)
    report.data["seen"][0]["generated"]["mean"]    # what report.json holds

It reads the zoo sections only (`zoo.spec.zoo_sections`: the zoo's identity, `eval`,
`memory`); the run's whole config is handed over as JSON data, to be recorded. It loads and
checks the zoo, checks every generated model against the target's
layout, leaves out (and counts) models with non-finite parameters, runs `evaluate_zoo`
(originals, baselines, generated models, memorization) and, with `select_split`, COND
P-DIFF's selection protocol, tests whether the generated models beat each baseline
(`eval.verdicts`), then writes report.json, report.md and similarity.png.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from paramgen_jax import memory
from paramgen_jax.errors import NonFiniteError
from paramgen_jax.eval.baselines import short_training
from paramgen_jax.eval.fitted import FittedBaseline, condition_baselines
from paramgen_jax.eval.headline import headline_lines
from paramgen_jax.eval.protocol import selection_protocol, split_accuracy
from paramgen_jax.eval.report import evaluate_zoo, write_report
from paramgen_jax.eval.stats import summary
from paramgen_jax.eval.verdicts import report_verdicts
from paramgen_jax.integrity import nonfinite_sets, read_json
from paramgen_jax.runfiles import INFERENCE, REPORT_JSON, read_timing
from paramgen_jax.zoo import spec, store
from paramgen_jax.zoo.accuracy import take_sets


class ZooView(NamedTuple):
  """The zoo `evaluate_generated` loaded once, handed to a method's baseline callback.

  inputs: `spec.ZooInputs` (target model, dataset, tasks); rows: the manifest rows of
  `stacked` (leaves (N, ...)); budget: the memory budget in bytes.
  """
  inputs: Any
  rows: list
  stacked: Any
  budget: int

  def members(self, task: str) -> np.ndarray:
    """Indices into `stacked` of the zoo's models of `task`, in manifest order."""
    return np.flatnonzero([r["task"] == task for r in self.rows])

  def tasks(self, split: str) -> list[str]:
    """The zoo's tasks of `split` ('seen' or 'unseen'), in manifest order."""
    return list(dict.fromkeys(r["task"] for r in self.rows if r["split"] == split))

  def score(self, models: Any, task: str, split: str = "test") -> np.ndarray:
    """(K,) accuracies (%) on `task`'s `split` examples of the stacked `models`."""
    return split_accuracy(self.inputs.target.apply, models, self.inputs.dataset,
                          self.inputs.by_name[task], split, budget_bytes=self.budget)


class Report(NamedTuple):
  """data: the report exactly as written to report.json (JSON-able; schema in
  `eval.report`); directory: where report.json, report.md and similarity.png are."""
  data: dict
  directory: str


def drop_nonfinite(generated: Mapping[str, Any], workdir: str) -> tuple[dict, dict[str, int]]:
  """({task: its finite generated models}, {task: how many were dropped as non-finite}).

  Raises NonFiniteError (one line) when some task has no finite model at all.
  """
  kept, dropped, empty = {}, {}, []
  for task, stacked in generated.items():
    bad = nonfinite_sets(stacked)
    dropped[task] = int(bad.sum())
    kept[task] = take_sets(stacked, np.flatnonzero(~bad))
    if bad.all():
      empty.append(task)
  if empty:
    raise NonFiniteError(
        f"eval: every generated model of {len(empty)} task(s) has non-finite parameters "
        f"(first: {os.path.join(workdir, 'generated', empty[0])}); nothing to report on")
  return kept, dropped


def summarize_task_baselines(task_baselines: Mapping[str, Mapping[str, np.ndarray]],
                             seen: list, unseen: list) -> dict:
  """{name: {'seen', 'unseen': stats over the split's tasks of each task's mean accuracy,
  'per_task': {task: mean}}} (a split's stats are {} where the baseline has no task)."""
  out = {}
  for name, by_task in task_baselines.items():
    means = {t: float(np.mean(a)) for t, a in by_task.items()}
    out[name] = {split: summary(np.asarray([means[r["task"]] for r in rows
                                            if r["task"] in means]))
                 for split, rows in (("seen", seen), ("unseen", unseen))}
    out[name]["per_task"] = means
  return out


def _inference(workdir: str) -> dict | None:
  """One model's generation cost as the sample stage recorded it, or None where it did not."""
  path = os.path.join(workdir, INFERENCE)
  return read_json(path, "inference file") if os.path.exists(path) else None


def _timing(workdir: str, started: float) -> dict:
  timing = read_timing(workdir)
  timing = {stage: timing.get(stage) for stage in ("collect", "train", "sample")}
  timing["eval"] = round(time.perf_counter() - started, 3)
  return timing


def evaluate_generated(zoo: Any, workdir: str, method: str,
                       generated: Mapping[str, Any] | None = None, *,
                       run_config: Mapping[str, Any] | None = None,
                       select_split: str | None = None,
                       neighbours: Mapping[str, str] | None = None,
                       task_baselines: Mapping[str, Mapping[str, np.ndarray]]
                       | Callable[[ZooView], Mapping[str, Mapping[str, np.ndarray]]]
                       | None = None,
                       conditions: Mapping[str, np.ndarray]
                       | Callable[[ZooView], Mapping[str, np.ndarray]] | None = None,
                       extra: Mapping[str, Any] | None = None) -> Report:
  """Scores the zoo of the sections `zoo` and `generated` ({task: stacked variables}) and
  writes the report files; `run_config` (JSON data) is recorded as the report's 'config'.

  With `select_split`, the report also has COND P-DIFF's protocol ('selection'): per task,
  the generated and the original model that are best on that split, reported on test
  (`neighbours`: unseen task -> the seen task whose checkpoints are the neighbour baseline).
  `task_baselines` ({name: {task: test accuracies (K,)}}, a method's own per-task baselines,
  or a function of the `ZooView` loaded here that returns them, so the zoo is loaded once)
  go into 'task_baselines' as {name: {'seen' | 'unseen': stats of the per-task means,
  'per_task': {task: mean}}}. With `conditions` ({task: the condition vector the generator
  gets}, or a function of the `ZooView` that returns them), the baselines fitted on the seen
  tasks' weights (`eval.fitted`: k-nearest soup, ridge regression; their leave-one-task-out
  choice in 'chosen') and, for the unseen tasks, a few steps of the zoo's recipe from its
  initialization and from a generated model (`baselines.short_training`, `eval.train_steps`,
  `eval.finetune_steps`) join them for the generated tasks. `extra`
  ({key: JSON value}, e.g. the generator's size and
  inference cost) is added to report.json as is. 'verdicts' (schema in `eval.report`) says,
  per split and baseline (those above and the selection protocol's), whether the generated
  models beat it.
  """
  started, budget = time.perf_counter(), memory.budget_bytes(zoo.get("memory"))
  inputs = spec.build_zoo_inputs(zoo, workdir)
  rows, stacked = spec.load_checked_zoo(zoo, workdir, inputs=inputs)
  template = spec.model_template(inputs.target, inputs.dataset)
  for task, models in (generated or {}).items():
    store.check_layout(models, template, f"generated models {workdir}/generated/{task}")
  generated, dropped = drop_nonfinite(generated or {}, workdir)
  view = ZooView(inputs, rows, stacked, budget)
  task_baselines = dict((task_baselines(view) if callable(task_baselines)
                         else task_baselines) or {})
  if conditions is not None and generated:
    conditions = conditions(view) if callable(conditions) else conditions
    task_baselines.update(condition_baselines(view, conditions, list(generated)))
    task_baselines.update(short_training(view, zoo.collect, zoo.eval, generated))
  chosen = {name: b.chosen for name, b in task_baselines.items()
            if isinstance(b, FittedBaseline)}
  task_baselines = {name: b.accuracies if isinstance(b, FittedBaseline) else b
                    for name, b in task_baselines.items()}
  found = evaluate_zoo(inputs.target, inputs.dataset, inputs.by_name, rows, stacked,
                       noise_sigmas=zoo.eval.noise_sigmas,
                       noise_per_sigma=zoo.eval.noise_per_sigma, seed=zoo.eval.seed,
                       generated=generated, budget_bytes=budget)
  for row in found.seen + found.unseen:
    if row["task"] in dropped:
      row["generated"]["nonfinite"] = dropped[row["task"]]
  data = {"method": method, "target": inputs.target.name,
          "config": dict(run_config or {}), "seen": found.seen,
          "unseen": found.unseen, "baselines": found.baselines, "similarity": found.similarity}
  if select_split and generated:
    data["selection"] = selection_protocol(
        inputs.target, inputs.dataset, inputs.by_name, rows, stacked, generated, select_split,
        found.generated_test, neighbours, budget_bytes=budget)
  if task_baselines:
    data["task_baselines"] = summarize_task_baselines(task_baselines, found.seen, found.unseen)
    for name, choice in chosen.items():
      data["task_baselines"][name]["chosen"] = choice
  data["verdicts"] = report_verdicts(
      {"seen": [r["task"] for r in found.seen], "unseen": [r["task"] for r in found.unseen]},
      found.generated_test, found.baseline_test, task_baselines, data.get("selection"))
  data["nonfinite_generated"] = sum(dropped.values())
  data.update(extra or {})
  data["inference"] = _inference(workdir)
  data["timing_s"] = _timing(workdir, started)
  write_report(workdir, data, found.points)
  for line in headline_lines(data, os.path.join(os.path.abspath(workdir), REPORT_JSON)):
    print(line)
  return Report(data, workdir)
