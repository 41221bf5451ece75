"""Data-conditioned mapping: the pipeline stages.

  collect -> zoo/                    the zoo of the config's zoo sections (binary digit tasks)
  train   -> scale.npz               the statistics' standardization (train models)
             generator.json          size, condition width, loss weights, arrangement
             checkpoints/, metrics   the decoder (`core.train`)
  sample  -> generated/<task>/       one model per unseen task and per seen task (up to
                                     `generate.seen_tasks`), one forward pass each
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
import jax.numpy as jnp
import numpy as np

from paramgen_jax import configlib as C
from paramgen_jax import memory
from paramgen_jax import stage_helpers as H
from paramgen_jax.eval.entry import evaluate_generated
from paramgen_jax.eval.headline import headline_line, split_means
from paramgen_jax.eval.protocol import split_accuracy
from paramgen_jax.integrity import atomic_write_json, read_json
from paramgen_jax.methods.mapping import core
from paramgen_jax.nn.hybrid_conv import AXES
from paramgen_jax.params.arrangement import ARRANGEMENTS, Arrangement
from paramgen_jax.zoo import conditions as zoo_conditions
from paramgen_jax.zoo import spec

SHAPE = C.Field((tuple, list), lambda v: len(v) == 3 and all(
    isinstance(d, int) and d >= 1 for d in v), "must be (layers, rows, cols), each >= 1")
SCHEMA = {
    "method": C.one_of("mapping"),
    **spec.ZOO_SCHEMA,
    "arrangement": {"kind": C.one_of(*ARRANGEMENTS)},
    "condition": {"kind": C.one_of("bits", "text"), "noise": C.real(0.0)},
    "generator": {
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
    "generate": {"seen_tasks": C.integer(0), "timing_repeats": C.integer(1)},
    "mesh": C.MESH_FIELD,
}
SHAPE_FILE, SCALE_FILE = "generator.json", "scale.npz"


def validate(config: Any) -> None:
  """The zoo's checks; conditions exist only for binary tasks."""
  spec.validate_zoo(config)
  C.require(config.tasks.kind == "binary", "tasks.kind",
            "must be 'binary': the mapping is conditioned on the task's code or description")


def task_conditions(config: Any, workdir: str, tasks: list) -> dict[str, np.ndarray]:
  """Task name -> condition vector ('bits' (10,), 'text' (384,), cached in the workdir)."""
  names = [t.name for t in tasks]
  if config.condition.kind == "bits":
    return dict(zip(names, zoo_conditions.bit_conditions(tasks)))
  return H.cached_vectors(
      os.path.join(workdir, "conditions_text.npz"), names,
      lambda: dict(zip(names, zoo_conditions.text_conditions(tasks, with_examples=False))))


def collect(config: Any, workdir: str) -> None:
  """Collects the zoo of the config's zoo sections (resumable)."""
  spec.collect_zoo_from_config(config, workdir)


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
  """Arranges the seen checkpoints, fits the statistics' scale, trains the decoder."""
  inputs = spec.build_zoo_inputs(config, workdir)
  rows, stacked = spec.load_checked_zoo(config, workdir, split="seen", inputs=inputs)
  keep = _training_rows(config, rows)
  rows = [rows[i] for i in keep]
  stacked = jax.tree_util.tree_map(lambda x: np.asarray(x)[keep], stacked)
  by_task = task_conditions(config, workdir,
                            [inputs.by_name[n] for n in dict.fromkeys(r["task"] for r in rows)])
  conditions = np.stack([by_task[r["task"]] for r in rows])
  arrangement = _arrangement(config, inputs)
  print(arrangement.summary())
  print(f"mapping: {len(rows)} checkpoints of {len(by_task)} tasks")
  generator = core.train(stacked, conditions, config, arrangement=arrangement,
                         workdir=workdir)
  np.savez(os.path.join(workdir, SCALE_FILE), mean=generator.scale.mean,
           std=generator.scale.std)
  atomic_write_json(os.path.join(workdir, SHAPE_FILE), {
      "condition_dim": int(conditions.shape[1]), "parameters": core.param_count(generator),
      "train_steps": int(config.train.steps), "train_tasks": len(by_task),
      "volume": list(arrangement.volume_shape), "arrangement": arrangement.kind,
      "loss_weights": generator.loss_weights.tolist()})


def _arrangement(config: Any, inputs: spec.ZooInputs) -> Arrangement:
  return Arrangement.from_template(spec.model_template(inputs.target, inputs.dataset),
                                   kind=config.arrangement.kind)


def load_generator(config: Any, workdir: str, inputs: spec.ZooInputs | None = None
                   ) -> tuple[core.Generator, dict]:
  """The trained generator and its generator.json (`inputs`: the zoo inputs, when the
  caller has them)."""
  path = os.path.join(workdir, SHAPE_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"no {path}: run --mode=train first")
  shape = read_json(path, "generator shape file")
  arrangement = _arrangement(config, inputs or spec.build_zoo_inputs(config, workdir))
  params, _ = H.load_trained_params(config, workdir, core.init_fn(
      config, arrangement, shape["condition_dim"]))
  saved = np.load(os.path.join(workdir, SCALE_FILE))
  return core.Generator(params, arrangement, core.StatsScale(saved["mean"], saved["std"]),
                        config), shape


def target_tasks(config: Any, workdir: str) -> list[str]:
  """Every unseen task, then the first `generate.seen_tasks` seen ones (0: all)."""
  splits = spec.manifest_splits(workdir)
  seen = [n for n, s in splits.items() if s == "seen"]
  count = config.generate.seen_tasks or len(seen)
  return [n for n, s in splits.items() if s == "unseen"] + seen[:count]


def generation_plan(generator: core.Generator, condition_dim: int, total: int,
                    budget: int) -> tuple[int, Any]:
  """(models per call, executable (params, conditions (size, F)) -> models): as many as
  fit `budget` of temporary memory (XLA's plan)."""
  fn = jax.jit(lambda params, conds: core.generate(generator._replace(params=params), conds))
  sig = memory.signature((generator.params, jax.ShapeDtypeStruct((1, condition_dim),
                                                                 jnp.float32)), (None, 0))
  (size,) = memory.plan_chunks(fn, sig, (total,), budget,
                               what="mapping generation of one model")
  return size, memory.compiled(fn, sig, (size,))


def sample(config: Any, workdir: str) -> None:
  """One model per target task (batched forward passes), then one model's time and memory."""
  inputs = spec.build_zoo_inputs(config, workdir)
  generator, shape = load_generator(config, workdir, inputs)
  names = target_tasks(config, workdir)
  conds = task_conditions(config, workdir, [inputs.by_name[n] for n in names])
  size, run = generation_plan(generator, shape["condition_dim"], len(names),
                              memory.budget_bytes(config.get("memory")))
  table = np.stack([conds[n] for n in names]).astype(np.float32)
  for first in range(0, len(names), size):
    chunk = table[first:first + size]
    padded = np.concatenate([chunk, np.zeros((size - len(chunk),) + chunk.shape[1:],
                                             np.float32)])
    models = jax.device_get(run(generator.params, padded))
    for i, name in enumerate(names[first:first + size]):
      H.save_generated(workdir, name, jax.tree_util.tree_map(lambda x: x[i:i + 1], models))
  H.record_inference_cost(
      workdir, lambda params, c: core.generate(generator._replace(params=params), c),
      (generator.params, table[:1]), generator.params, config.generate.timing_repeats)


def nearest_seen_baseline(config: Any, workdir: str, inputs: spec.ZooInputs) -> dict:
  """{'nearest seen task': {unseen task: test accuracies of the zoo models of the seen task
  with the most similar condition}}."""
  splits = spec.manifest_splits(workdir)
  unseen = [n for n, s in splits.items() if s == "unseen"]
  seen = [n for n, s in splits.items() if s == "seen"]
  if not unseen or not seen:
    return {}
  conds = task_conditions(config, workdir, [inputs.by_name[n] for n in seen + unseen])
  nearest = zoo_conditions.nearest_seen(conds, seen)
  rows, stacked = spec.load_checked_zoo(config, workdir, split="seen", inputs=inputs)
  out = {}
  for task in unseen:
    idx = np.asarray([i for i, r in enumerate(rows) if r["task"] == nearest[task]])
    models = jax.tree_util.tree_map(lambda x: np.asarray(x)[idx], stacked)
    out[task] = split_accuracy(inputs.target.apply, models, inputs.dataset,
                               inputs.by_name[task], "test")
  return {"nearest seen task": out}


def evaluate(config: Any, workdir: str) -> None:
  """Scores the generated models; the report carries the generator's size and cost."""
  inputs = spec.build_zoo_inputs(config, workdir)
  shape = read_json(os.path.join(workdir, SHAPE_FILE), "generator shape file")
  report = evaluate_generated(config, workdir, "mapping", generated=H.load_generated(workdir),
                              task_baselines=nearest_seen_baseline(config, workdir, inputs),
                              extra={"generator": shape})
  for split in ("seen", "unseen"):
    means = split_means(report.data, split)
    if means:
      print(headline_line("mapping", split, means))
