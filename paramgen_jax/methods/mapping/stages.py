"""Data-conditioned mapping: the pipeline stages.

  collect -> zoo/                    the zoo of the config's zoo sections (binary digit tasks)
  train   -> checkpoints/, metrics   the decoder's training (`core.train`; resumes)
             generator/              the trained generator (`core.save`: decoder, statistics'
                                     scale, loss weights, config, the arrangement's template)
  sample  -> generated/<task>/       one model per unseen task and per seen task (up to
                                     `generate.seen_tasks`): every task's condition in one
                                     batched forward pass (chunks when over the memory budget)
             inference.json          one model's time (median of repeats, compiled) and
                                     XLA's memory plan
  eval    -> report.json, report.md  with the per-task baseline 'nearest seen task' and the
                                     generator's size and inference cost

Conditions: the task's 10-bit code ('bits', the paper's classification setting) or the
MiniLM embedding of its text description ('text').
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from paramgen_jax import configlib as C
from paramgen_jax import memory, runfiles
from paramgen_jax.artifact import config_json, with_run_sections
from paramgen_jax.eval.entry import evaluate_generated
from paramgen_jax.eval.baselines import nearest_seen_task
from paramgen_jax.methods.mapping import core
from paramgen_jax.nn.hybrid_conv import AXES
from paramgen_jax.params.arrangement import ARRANGEMENTS
from paramgen_jax.train import recipe
from paramgen_jax.zoo import conditions as zoo_conditions
from paramgen_jax.zoo import spec
from paramgen_jax.zoo.accuracy import take_sets

SHAPE = C.Field((tuple, list), lambda v: len(v) == 3 and all(
    isinstance(d, int) and d >= 1 for d in v), "must be (layers, rows, cols), each >= 1")
SCHEMA = {
    "method": C.one_of("mapping"),
    **spec.ZOO_SCHEMA,
    "arrangement": {"kind": C.one_of(*ARRANGEMENTS)},
    "condition": {"kind": C.one_of("bits", "text"), "noise": C.real(0.0)},
    "generator": {
        "decoder": C.one_of("hybrid_conv", "mlp"), "residual": C.one_of("none", "ridge"),
        "ridge_lambda": C.real(0.0), "hidden": C.Field(
            (tuple, list), lambda v: all(isinstance(d, int) and d >= 1 for d in v),
            "must be a list of hidden-layer widths, each >= 1"),
        "encoder_dim": C.integer(1), "prototype": SHAPE,
        "shapes": C.Field((tuple, list), lambda v: len(v) >= 1 and all(
            SHAPE.check(s) for s in v), "must be a non-empty list of (layers, rows, cols)"),
        "kernel": C.integer(1), "deformation_hidden": C.integer(0),
        "blocked": C.Field((tuple, list), lambda v: set(v) <= set(AXES),
                           f"must be a list of axes among {', '.join(AXES)}"),
    },
    "loss": {"alpha": C.real(0.0), "target_noise": C.real(0.0)},
    "train_tasks": C.integer(0),
    "train": C.TRAIN_SCHEMA,
    "generate": {"seen_tasks": C.integer(0), "timing_repeats": C.integer(1),
                 "compute_dtype": C.one_of("float32", "bfloat16")},
    "mesh": C.MESH_FIELD,
}
TEXT_CONDITIONS = "conditions_text.npz"
# The mapping is deterministic: the protocol's key is passed and ignored.
SAMPLE_KEY = 0


def validate(config: Any) -> None:
  """The zoo's checks; conditions exist only for binary tasks."""
  spec.validate_zoo(spec.zoo_sections(config))
  C.require(config.tasks.kind == "binary", "tasks.kind",
            "must be 'binary': the mapping is conditioned on the task's code or description")


def task_conditions(config: Any, workdir: str, tasks: list) -> dict[str, np.ndarray]:
  """Task name -> condition vector ('bits' (10,), 'text' (384,), cached in the workdir)."""
  names = [t.name for t in tasks]
  if config.condition.kind == "bits":
    return dict(zip(names, zoo_conditions.bit_conditions(tasks)))
  return runfiles.cached_vectors(
      os.path.join(workdir, TEXT_CONDITIONS), names,
      lambda: dict(zip(names, zoo_conditions.text_conditions(tasks, with_examples=False))))


def collect(config: Any, workdir: str) -> None:
  """Collects the zoo of the config's zoo sections (resumable)."""
  spec.collect_zoo_from_config(spec.zoo_sections(config), workdir)


def _training_rows(config: Any, rows: list[dict]) -> np.ndarray:
  """Indices of the rows of the seen tasks used for training: all, or `train_tasks` tasks
  drawn with the train seed (the paper's Table 5c)."""
  tasks = list(dict.fromkeys(r["task"] for r in rows))
  if config.train_tasks and config.train_tasks < len(tasks):
    picked = np.random.default_rng(config.train.seed).choice(len(tasks), config.train_tasks,
                                                              replace=False)
    keep = {tasks[i] for i in picked}
    return np.asarray([i for i, r in enumerate(rows) if r["task"] in keep])
  return np.arange(len(rows))


def train(config: Any, workdir: str) -> None:
  """Trains the decoder on the seen checkpoints (resuming from workdir's checkpoints) and
  saves the generator to workdir/generator."""
  zoo = spec.zoo_sections(config)
  inputs = spec.build_zoo_inputs(zoo, workdir)
  rows, stacked = spec.load_checked_zoo(zoo, workdir, split="seen", inputs=inputs)
  keep = _training_rows(config, rows)
  rows = [rows[i] for i in keep]
  stacked = jax.tree_util.tree_map(lambda x: np.asarray(x)[keep], stacked)
  by_task = task_conditions(config, workdir,
                            [inputs.by_name[n] for n in dict.fromkeys(r["task"] for r in rows)])
  print(f"mapping: {len(rows)} checkpoints of {len(by_task)} tasks")
  generator = core.train(stacked, config, workdir=workdir,
                         conditions=np.stack([by_task[r["task"]] for r in rows]))
  print(generator.arrangement.summary())
  core.save(generator, runfiles.generator_dir(workdir))


def target_tasks(config: Any, workdir: str) -> list[str]:
  """Every unseen task, then the first `generate.seen_tasks` seen ones (0: all)."""
  splits = spec.manifest_splits(workdir)
  seen = [n for n, s in splits.items() if s == "seen"]
  count = config.generate.seen_tasks or len(seen)
  return [n for n, s in splits.items() if s == "unseen"] + seen[:count]


def sample(config: Any, workdir: str) -> None:
  """One model per target task: the tasks' conditions (T, F) in one batched forward pass
  (chunked by `memory.generate_within_budget` when over budget), then one model's time and
  memory."""
  generator = with_run_sections(core.load(runfiles.generator_dir(workdir)), config)
  inputs = spec.build_zoo_inputs(spec.zoo_sections(config), workdir)
  names = target_tasks(config, workdir)
  conds = task_conditions(config, workdir, [inputs.by_name[n] for n in names])
  table = np.stack([conds[n] for n in names]).astype(np.float32)
  key = jax.random.key(SAMPLE_KEY)
  models = memory.generate_within_budget(
      core.generate, generator, key, table, len(names),
      memory.budget_bytes(config.get("memory")),
      what="mapping generation of one model per task", mesh=memory.device_mesh())
  # Deterministic, so the task keys go unused; one batched call for every task (not one
  # per task) keeps the generated bytes: a batch of 1 rounds differently (~1e-8).
  row = {name: i for i, name in enumerate(names)}
  one_task = lambda task, _: take_sets(models, [row[task]])
  runfiles.generate_for_tasks(workdir, names, 1, one_task, key)
  runfiles.record_inference_cost(workdir, core.generate, generator, key, table[:1],
                                 runfiles.timing_repeats(config.generate), trained=generator.params)


def generator_summary(generator: core.Generator) -> dict:
  """The report's 'generator': condition width, decoder size, training steps and tasks, the
  arrangement's volume and kind, the per-layer loss weights."""
  return {"condition_dim": generator.condition_dim,
          "parameters": recipe.count_params(generator.params),
          "train_steps": int(generator.config.train.steps),
          "train_tasks": generator.train_tasks,
          "volume": list(generator.arrangement.volume_shape),
          "arrangement": generator.arrangement.kind,
          "loss_weights": np.asarray(generator.loss_weights).tolist()}


def every_task_condition(config: Any, workdir: str, zoo: Any) -> dict[str, np.ndarray]:
  """{task: the condition the generator gets} for every task of the zoo `evaluate_generated`
  loaded (a ZooView)."""
  names = zoo.tasks("seen") + zoo.tasks("unseen")
  return task_conditions(config, workdir, [zoo.inputs.by_name[n] for n in names])


def nearest_seen_baseline(config: Any, workdir: str, zoo: Any) -> dict:
  """{'nearest seen task': {unseen task: test accuracies of the zoo models of the seen task
  with the most similar condition}} on the zoo `evaluate_generated` loaded (a ZooView)."""
  found = nearest_seen_task(zoo, every_task_condition(config, workdir, zoo))
  return {"nearest seen task": found} if found else {}


def evaluate(config: Any, workdir: str) -> None:
  """Scores the generated models; the report carries the generator's size and cost."""
  generator = core.load(runfiles.generator_dir(workdir))
  evaluate_generated(spec.zoo_sections(config), workdir, "mapping",
                     run_config=config_json(config), generated=runfiles.load_generated(workdir),
                     task_baselines=lambda zoo: nearest_seen_baseline(config, workdir, zoo),
                     conditions=lambda zoo: every_task_condition(config, workdir, zoo),
                     extra={"generator": generator_summary(generator)})
