"""COND P-DIFF's selection protocol: pick a model on the training split, report it on test.

Per task:
  generated  the best (training-split accuracy) of the task's generated models, its test
             accuracy; also the mean test accuracy of all of them
  original   the best (training-split accuracy) of the task's zoo checkpoints, its test
             accuracy (the "original (best)" baseline)
  soup       the test accuracy of the average of the task's checkpoints
  neighbour  (unseen tasks, when `neighbours` is given) the checkpoints of the seen task a
             conditional generator considers nearest, scored on the unseen task: the
             best of them on training data, its test accuracy. A generator that beats this
             has learned more than to copy the closest task it knows.
Aggregates are means over the seen and over the unseen tasks. Zoo rows carry their
training accuracy (`train_acc`, written at collection); it is computed when missing.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

import numpy as np

from paramgen_jax import memory
from paramgen_jax.data import Dataset
from paramgen_jax.eval import baselines
from paramgen_jax.zoo.accuracy import accuracy, correct_matrix, predict_many, take_sets


def split_accuracy(apply_fn, stacked: Any, dataset: Dataset, task: Any, split: str, *,
                   budget_bytes: int = memory.DEFAULT_BUDGET_BYTES) -> np.ndarray:
  """(S,) percent accuracy of every model of `stacked` on `task` over a split."""
  x, y = dataset.split(split)
  labels, used = task.relabel(y)
  predictions = predict_many(apply_fn, stacked, x, budget_bytes=budget_bytes)
  return accuracy(correct_matrix(predictions, labels, used), used)


def selection_protocol(target: Any, dataset: Dataset, tasks: Mapping[str, Any],
                       rows: Sequence[dict], stacked: Any, generated: Mapping[str, Any],
                       select_split: str = "train",
                       generated_test: Mapping[str, np.ndarray] | None = None,
                       neighbours: Mapping[str, str] | None = None, *,
                       budget_bytes: int = memory.DEFAULT_BUDGET_BYTES) -> dict:
  """{"select_on", "tasks": [per-task row], "seen": means, "unseen": means} (percent).

  Args:
    target: the zoo's target (`target.apply`); dataset: its data.
    tasks: task name -> Task; rows, stacked: the zoo manifest and its variables.
    generated: task name -> stacked generated variables (tasks without any are skipped).
    select_split: the split models are picked on.
    generated_test: task name -> (S,) test accuracies of its generated models when already
      computed (`evaluate_zoo` does); computed here otherwise.
    neighbours: unseen task name -> seen task name, for the neighbour baseline.
    budget_bytes: the temporary memory one chunk of predictions may take (`predict_many`).
  """
  generated_test, neighbours = generated_test or {}, neighbours or {}
  score = functools.partial(split_accuracy, budget_bytes=budget_bytes)
  per_task = []
  for name, gen in generated.items():
    idx = np.flatnonzero([r["task"] == name for r in rows])
    if idx.size == 0:
      continue
    task = tasks[name]
    key = f"{select_split}_acc"
    if all(key in rows[i] for i in idx):
      orig_select = np.asarray([rows[i][key] for i in idx])
    else:
      orig_select = score(target.apply, take_sets(stacked, idx), dataset, task, select_split)
    orig_test = np.asarray([rows[i]["test_acc"] for i in idx])
    gen_select = score(target.apply, gen, dataset, task, select_split)
    gen_test = (np.asarray(generated_test[name]) if name in generated_test
                else score(target.apply, gen, dataset, task, "test"))
    soup_test = score(target.apply, baselines.soup(take_sets(stacked, idx)), dataset, task, "test")
    extra = {}
    near = neighbours.get(name)
    if near is not None and near != name:
      near_idx = np.flatnonzero([r["task"] == near for r in rows])
      near_models = take_sets(stacked, near_idx)
      near_select = score(target.apply, near_models, dataset, task, select_split)
      near_test = score(target.apply, near_models, dataset, task, "test")
      extra = {"neighbour": near, "neighbour_selected": float(near_test[np.argmax(near_select)])}
    per_task.append({**extra,
        "task": name, "split": rows[idx[0]]["split"],
        "generated_selected": float(gen_test[np.argmax(gen_select)]),
        "generated_mean": float(gen_test.mean()), "generated_best_test": float(gen_test.max()),
        "original_selected": float(orig_test[np.argmax(orig_select)]),
        "original_mean": float(orig_test.mean()), "soup": float(soup_test[0]),
        "num_generated": int(gen_test.size), "num_original": int(idx.size)})
  out = {"select_on": select_split, "tasks": per_task}
  fields = ("generated_selected", "generated_mean", "generated_best_test", "original_selected",
            "original_mean", "soup")
  for split in ("seen", "unseen"):
    mine = [r for r in per_task if r["split"] == split]
    out[split] = ({f: float(np.mean([r[f] for r in mine])) for f in fields} | {"tasks": len(mine)}
                  if mine else {})
    if mine and all("neighbour_selected" in r for r in mine):
      out[split]["neighbour_selected"] = float(np.mean([r["neighbour_selected"] for r in mine]))
  return out


def protocol_markdown(protocol: dict) -> list[str]:
  """Lines of report.md for a protocol result."""
  lines = [f"## Selected on the {protocol['select_on']} split, reported on test "
           "(mean over tasks, %)", "",
           "| tasks | n | generated (selected) | generated (mean of all) | original (selected) "
           "| original (mean) | soup |", "|---|---|---|---|---|---|---|"]
  for split in ("seen", "unseen"):
    s = protocol[split]
    if s:
      lines.append(f"| {split} | {s['tasks']} | {s['generated_selected']:.2f} | "
                   f"{s['generated_mean']:.2f} | {s['original_selected']:.2f} | "
                   f"{s['original_mean']:.2f} | {s['soup']:.2f} |")
  near = protocol["unseen"].get("neighbour_selected") if protocol["unseen"] else None
  if near is not None:
    lines += ["", f"Unseen tasks, neighbour baseline (the checkpoints of the nearest seen task, "
                  f"picked on {protocol['select_on']}): {near:.2f}%."]
  return lines + [""]
