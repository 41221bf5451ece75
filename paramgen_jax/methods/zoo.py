"""Zoo-only pipeline: collect a checkpoint zoo and report on it (no generator).

  collect -> zoo/ (Orbax units + manifest.jsonl + zoo.json)
  eval    -> report.json, report.md, similarity.png: originals and baselines, with empty
             generated fields. `train` and `sample` have nothing to do here.

The pieces (`build_zoo_inputs`, `zoo_dir`, `report_on_zoo`) are what generator methods use
to get their training zoo and to evaluate what they generate.

LoRA zoos (an `adapter` section): `collect` first trains the base model on the full task
(stored in workdir/base/, a one-checkpoint zoo, resumable like any zoo), then the zoo's
checkpoints are only the adapters and task head of `model` with LoRA, on the frozen base.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Mapping

import jax
import numpy as np

from paramgen_jax import configlib as C
from paramgen_jax import data as data_lib
from paramgen_jax import memory
from paramgen_jax.errors import NonFiniteError, ZooMismatchError
from paramgen_jax.eval import evaluate_zoo, write_report
from paramgen_jax.eval.accuracy import take_sets
from paramgen_jax.eval.protocol import selection_protocol
from paramgen_jax.integrity import nonfinite_sets
from paramgen_jax.zoo import store
from paramgen_jax.zoo.collect import collect_zoo
from paramgen_jax.zoo import lora
from paramgen_jax.zoo.models import LORA_TARGETS, MODELS, make_target
from paramgen_jax.zoo import tasks as tasks_lib

ADAPTER_SCHEMA = {
    "rank": C.integer(1),
    "alpha": C.real(0.0, exclusive_min=True),
    "targets": C.Field((tuple, list), lambda v: len(v) > 0 and set(v) <= set(LORA_TARGETS),
                       f"must be a non-empty list of {', '.join(LORA_TARGETS)}"),
    "base_epochs": C.integer(1),
    "base_lr": C.real(0.0, exclusive_min=True),
    "base_seed": C.integer(0),
}

ZOO_SCHEMA = {
    "data": {"name": C.string(), "seed": C.integer(0), "image_size": C.integer(0)},
    "model": {"name": C.one_of(*sorted(MODELS)), "options": C.Field((Mapping,))},
    "tasks": {
        "kind": C.one_of("full", "binary", "subset"),
        "num_unseen": C.integer(0),
        "split_seed": C.integer(0),
        "limit": C.integer(0),
        "subset_k": C.integer(2, 9),
        "subset_count": C.integer(1),
    },
    "collect": {
        "seeds": C.sequence(int, 1, minimum=0),
        "tasks_per_unit": C.integer(1),
        "epochs": C.integer(1),
        "batch_size": C.integer(1),
        "lr": C.real(0.0, exclusive_min=True),
        "save_lr": C.real(0.0, exclusive_min=True),
        "warmup_steps": C.integer(0),
        "weight_decay": C.real(0.0),
        "clip_norm": C.real(0.0),
        "checkpoints": C.integer(1),
        "augment_shift": C.integer(0),
        "label_smoothing": C.real(0.0, 1.0, exclusive_max=True),
        "shared_init": C.boolean(),
    },
    "adapter": C.optional_section(ADAPTER_SCHEMA),
    "memory": C.MEMORY_SCHEMA,
    "eval": {"noise_sigmas": C.sequence(float, 0, minimum=0.0), "noise_per_sigma": C.integer(1),
             "seed": C.integer(0)},
}
SCHEMA = {"method": C.one_of("zoo"), **ZOO_SCHEMA, "mesh": C.MESH_FIELD}


def validate(config: Any) -> None:
  C.require(config.tasks.kind != "full" or config.tasks.num_unseen == 0, "tasks.num_unseen",
            "must be 0 for the single full task")
  C.require(config.get("adapter") is None or config.model.name == "vit_tiny", "adapter",
            f"LoRA adapters need model.name = 'vit_tiny', got {config.model.name!r}")


def zoo_dir(workdir: str) -> str:
  return os.path.join(workdir, "zoo")


# What a zoo is *of*: a zoo collected with other values here cannot serve this config.
IDENTITY_KEYS = ("target", "model", "data", "tasks", "adapter")


def zoo_identity(config: Any, target: Any) -> dict:
  """The zoo.json entries a zoo collected for `config` has (JSON-normalized)."""
  adapter = config.get("adapter")
  return json.loads(json.dumps({
      "target": target.name, "model": config.model.to_dict(), "data": config.data.to_dict(),
      "tasks": config.tasks.to_dict(), "adapter": None if adapter is None else adapter.to_dict()}))


def check_zoo_info(config: Any, directory: str, target: Any) -> None:
  """Raises ZooMismatchError (one line) unless `directory/zoo.json` fits `config`."""
  info = store.read_info(directory)
  if info is None:
    raise ZooMismatchError(f"zoo {directory} has no zoo.json, so it cannot be checked against "
                           "the config: run --mode=collect, or use another --workdir")
  expected = zoo_identity(config, target)
  for key in IDENTITY_KEYS:
    if info.get(key) != expected[key]:
      raise ZooMismatchError(
          f"zoo {directory} was collected for {key} = {json.dumps(info.get(key))}, the config "
          f"has {json.dumps(expected[key])}: use another --workdir, or remove {directory}")


def model_template(target: Any, dataset: Any) -> Any:
  """ShapeDtypeStructs of one model's variables: the layout every zoo checkpoint must have."""
  return jax.eval_shape(target.init, jax.random.key(0), jax.numpy.asarray(dataset.x_train[:1]))


def load_checked_zoo(config: Any, workdir: str, *, split: str | None = None,
                     inputs: tuple | None = None) -> tuple[list[dict], Any]:
  """The zoo's (rows, stacked variables) after checking zoo.json against `config` and every
  checkpoint against the target's layout (`inputs`: `build_zoo_inputs`' result, if at hand)."""
  target, dataset, _, _ = inputs or build_zoo_inputs(config, workdir)
  directory = zoo_dir(workdir)
  if not store.read_manifest(directory):
    raise FileNotFoundError(f"no zoo in {directory}: run --mode=collect first")
  check_zoo_info(config, directory, target)
  return store.load_zoo(directory, split=split, template=model_template(target, dataset))


def base_dir(workdir: str) -> str:
  return os.path.join(workdir, "base")


def base_variables(config: Any, workdir: str, dataset, train_base: bool) -> Any:
  """The trained base model of a LoRA zoo (trained here when `train_base` and missing)."""
  a, directory = config.adapter, base_dir(workdir)
  base = make_target(config.model.name, dataset.num_classes, **dict(config.model.options))
  if train_base and not store.completed_units(directory):
    spec = config.collect.copy_and_resolve_references()
    spec.update(dict(seeds=(a.base_seed,), tasks_per_unit=1, epochs=a.base_epochs,
                     lr=a.base_lr, checkpoints=1, shared_init=False))
    task = tasks_lib.full_task(dataset.num_classes)
    store.write_info(directory, {"target": base.name, "role": "LoRA base model"})
    collect_zoo(directory, base, dataset, [task], {task.name: "seen"}, spec,
                budget_bytes=memory.budget_bytes(config))
  if not store.completed_units(directory):
    raise FileNotFoundError(f"no base model in {directory}: run --mode=collect first")
  rows, stacked = store.load_zoo(directory, template=model_template(base, dataset))
  return jax.tree_util.tree_map(lambda leaf: leaf[0], stacked), rows[0]


def build_zoo_inputs(config: Any, workdir: str | None = None, *, train_base: bool = False):
  """(target, dataset, tasks, {task: 'seen'|'unseen'}) from the zoo sections of a config.

  A LoRA zoo (`adapter` section) needs `workdir` (its base model lives there); with
  `train_base` the base is trained if it is missing.
  """
  dataset = data_lib.load(config.data.name, seed=config.data.seed,
                          image_size=config.data.image_size or None)
  t = config.tasks
  if t.kind == "full":
    tasks = [tasks_lib.full_task(dataset.num_classes)]
  elif t.kind == "binary":
    tasks = tasks_lib.binary_tasks(dataset.num_classes)
  else:
    tasks = tasks_lib.subset_tasks(t.subset_k, t.subset_count, t.split_seed, dataset.num_classes)
  seen, unseen = tasks_lib.split_seen_unseen(tasks, t.num_unseen, t.split_seed)
  if t.limit:  # a smaller zoo for smoke tests: the first seen and unseen tasks
    seen, unseen = seen[:t.limit], unseen[:max(1, t.limit // 4) if unseen else 0]
  chosen = {task.name for task in seen + unseen}
  tasks = [task for task in tasks if task.name in chosen]
  splits = {task.name: "seen" for task in seen} | {task.name: "unseen" for task in unseen}
  options = dict(config.model.options)
  adapter = config.get("adapter")
  if adapter is None:
    return make_target(config.model.name, tasks[0].num_outputs, **options), dataset, tasks, splits
  if workdir is None:
    raise ValueError("a LoRA zoo needs the workdir that holds its base model")
  base, base_row = base_variables(config, workdir, dataset, train_base)
  adapted = make_target(config.model.name, tasks[0].num_outputs, lora_rank=adapter.rank,
                        lora_alpha=adapter.alpha, lora_targets=tuple(adapter.targets), **options)
  if train_base:
    print(f"LoRA base model: test accuracy {base_row['test_acc']:.2f}% on the full task")
  target = lora.adapter_target(adapted, base, jax.numpy.asarray(dataset.x_train[:1]))
  return target, dataset, tasks, splits


def collect(config: Any, workdir: str) -> None:
  target, dataset, tasks, splits = build_zoo_inputs(config, workdir, train_base=True)
  directory = zoo_dir(workdir)
  if store.read_manifest(directory):  # never mix checkpoints of two configs in one zoo
    check_zoo_info(config, directory, target)
  store.write_info(directory, {**zoo_identity(config, target), "num_tasks": len(tasks),
                               "dataset": dataset.summary()})
  figures = collect_zoo(directory, target, dataset, tasks, splits, config.collect,
                        budget_bytes=memory.budget_bytes(config))
  with open(os.path.join(directory, "collect_timing.json"), "w") as f:
    json.dump(figures, f, indent=2)


def train(config: Any, workdir: str) -> None:
  print("zoo config: nothing to train (collect and eval only)")


def sample(config: Any, workdir: str) -> None:
  print("zoo config: nothing to sample (collect and eval only)")


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


def report_on_zoo(config: Any, workdir: str, method: str,
                  generated: Mapping[str, Any] | None = None, *,
                  select_split: str | None = None,
                  neighbours: Mapping[str, str] | None = None) -> dict:
  """Evaluates the zoo (and `generated` models per task) and writes the report files.

  With `select_split`, the report also has COND P-DIFF's protocol ('selection'): per task,
  the generated and the original model that are best on that split, reported on test
  (`neighbours`: unseen task -> the seen task whose checkpoints are the neighbour baseline).
  """
  started = time.perf_counter()
  inputs = build_zoo_inputs(config, workdir)
  target, dataset, tasks, _ = inputs
  by_name = {t.name: t for t in tasks}
  rows, stacked = load_checked_zoo(config, workdir, inputs=inputs)
  template = model_template(target, dataset)
  for task, models in (generated or {}).items():
    store.check_layout(models, template, f"generated models {workdir}/generated/{task}")
  generated, dropped = drop_nonfinite(generated or {}, workdir)
  report = evaluate_zoo(target, dataset, by_name, rows, stacked,
                        noise_sigmas=config.eval.noise_sigmas,
                        noise_per_sigma=config.eval.noise_per_sigma, seed=config.eval.seed,
                        generated=generated, budget_bytes=memory.budget_bytes(config))
  if select_split and generated:
    report["selection"] = selection_protocol(target, dataset, by_name, rows, stacked, generated,
                                             select_split, report["_generated_test"],
                                             neighbours, budget_bytes=memory.budget_bytes(config))
  timing_path = os.path.join(workdir, "timing.json")
  timing = json.load(open(timing_path)) if os.path.exists(timing_path) else {}
  timing = {stage: timing.get(stage) for stage in ("collect", "train", "sample")}
  timing["eval"] = round(time.perf_counter() - started, 3)
  for split in ("seen", "unseen"):
    for row in report[split]:
      if row["task"] in dropped:
        row["generated"]["nonfinite"] = dropped[row["task"]]
  report["nonfinite_generated"] = sum(dropped.values())
  report = {"method": method, "target": target.name, "config": json.loads(
      config.to_json_best_effort()), **report, "timing_s": timing}
  return write_report(workdir, report)


def evaluate(config: Any, workdir: str) -> None:
  report_on_zoo(config, workdir, "zoo")
