"""What every method's stages share: config sections to library calls, training a generator
with the engine, random-row batches, per-task generation with a progress bar, and the
verified on-disk form of generated models.

Methods (`paramgen_jax/methods/<name>/stages.py`) import this module; it imports no method.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from paramgen_jax import diffusion, memory
from paramgen_jax.errors import CorruptDataError, NonFiniteError
from paramgen_jax.eval.entry import INFERENCE_FILE
from paramgen_jax.integrity import atomic_write_json, nonfinite_sets
from paramgen_jax.train import TrainState, checkpoint, fit, make_mesh, make_optimizer
from paramgen_jax.train import restore_latest
from paramgen_jax.train.metrics import progress_bar
from paramgen_jax.zoo import store

PyTree = Any


def schedule_from_config(cfg: Any) -> diffusion.Schedule:
  """The `diffusion` section -> Schedule."""
  return diffusion.get_schedule(cfg.schedule, cfg.timesteps, beta_start=cfg.beta_start,
                                beta_end=cfg.beta_end)


def sampler_kwargs(config: Any) -> dict:
  """Keyword arguments of `diffusion.sample` from the `sample` and `diffusion` sections."""
  s = config.sample
  return dict(sampler=s.sampler, steps=s.steps, eta=s.eta, clip_x0=s.clip_x0,
              prediction=config.diffusion.prediction)


def mesh_from_config(config: Any) -> jax.sharding.Mesh:
  """The `mesh` section (default: every device on the 'data' axis) -> Mesh."""
  return make_mesh(dict(config.get("mesh") or {"data": -1}))


def random_rows(seed: int, count: int, batch_size: int) -> Callable[[int], np.ndarray]:
  """step -> (batch_size,) row indices drawn uniformly from [0, count), a pure function of
  (seed, step), so a resumed run sees the batches an uninterrupted one would."""
  key = jax.random.key(seed)
  return lambda step: np.asarray(jax.random.randint(jax.random.fold_in(key, step),
                                                    (batch_size,), 0, count))


def train_generator(train_cfg: Any, config: Any, *, init_params: Callable, loss_fn: Callable,
                    batch_fn: Callable[[int], PyTree], workdir: str | None,
                    desc: str) -> TrainState:
  """`train.fit` with the section's seed as base key and the config's mesh.

  workdir None trains in memory (no checkpoints, nothing written).
  """
  return fit(train_cfg, init_params=init_params, loss_fn=loss_fn, batch_fn=batch_fn,
             workdir=workdir, key=jax.random.key(train_cfg.seed),
             mesh=mesh_from_config(config), desc=desc)


def load_trained_params(config: Any, workdir: str, init_params: Callable[[jax.Array], Any],
                        train_cfg: Any = None) -> tuple[Any, int]:
  """The sampling parameters (EMA if kept) of the latest train checkpoint: (params, step).

  train_cfg: the train section the run used (default `config.train`).

  Raises CorruptDataError (one line naming the step's folder) when the latest checkpoint
  fails verification: an older step would silently give another result.
  """
  train_cfg = config.train if train_cfg is None else train_cfg
  tx, _ = make_optimizer(train_cfg)
  abstract = jax.eval_shape(
      lambda k: TrainState.create(init_params(k), tx, use_ema=train_cfg.ema_decay > 0),
      jax.random.key(0))
  state, step = restore_latest(workdir, abstract)
  # Host copies: Orbax restores the training mesh's shardings, while generation compiles for
  # the default device.
  return jax.device_get(state.eval_params()), step


def generate_in_chunks(make: Callable[[int], PyTree], count: int, per_call: int) -> PyTree:
  """`count` models, stacked, from make(first) -> models first .. first + per_call - 1
  (the last call's extra models are dropped)."""
  parts = [make(first) for first in range(0, count, per_call)]
  return jax.tree_util.tree_map(lambda *a: jnp.concatenate(a)[:count], *parts)


def chunk_key(task_key: jax.Array, first: int, per_call: int, total: int) -> jax.Array:
  """The key of the chunk starting at model `first`: the task's key when one call makes
  every model, else fold_in(task key, chunk index)."""
  return task_key if per_call >= total else jax.random.fold_in(task_key, first // per_call)


def generate_for_tasks(workdir: str, tasks: Sequence[str], num_models: int, per_call: int,
                       make: Callable[[str, jax.Array, int], PyTree], key: jax.Array) -> None:
  """Generates `num_models` models per task and saves each task's (`save_generated`).

  make(task, task_key, first) returns models first .. first + per_call - 1 of the task,
  stacked; task i draws from fold_in(key, i). A progress bar counts the tasks.
  """
  chunked = f", {per_call} at a time (memory.budget_gb)" if per_call < num_models else ""
  bar = progress_bar(len(tasks), 0, f"generate {num_models} models per task{chunked}")
  try:
    for i, task in enumerate(tasks):
      task_key = jax.random.fold_in(key, i)
      save_generated(workdir, task, generate_in_chunks(
          lambda first: make(task, task_key, first), num_models, per_call))
      bar.update(1)
  finally:
    bar.close()


def save_generated(workdir: str, task: str, stacked: Any) -> None:
  """Writes one task's generated models (stacked variables) to workdir/generated/<task>.

  A checksum record (`checkpoint.RECORD`) is written into the folder once Orbax has
  finished, from the arrays handed to it; `load_generated` verifies it. Models with
  non-finite parameters are saved too (the report counts them), with a warning line; when
  every model of the task is non-finite, NonFiniteError (one line) ends the stage.
  """
  path = os.path.join(os.path.abspath(workdir), "generated", task)
  host = jax.tree_util.tree_map(np.asarray, stacked)
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(path, host, force=True)
    checkpointer.wait_until_finished()
  checkpoint.write_record(path, host)
  bad = nonfinite_sets(host)
  if bad.all():
    raise NonFiniteError(f"sample: all {bad.size} generated models of task {task} have "
                         f"non-finite parameters ({path}); check the generator's training")
  if bad.any():
    print(f"warning: {int(bad.sum())} of {bad.size} generated models of task {task} have "
          "non-finite parameters; the report leaves them out and counts them", file=sys.stderr)


def load_generated(workdir: str) -> dict[str, Any]:
  """Task name -> stacked generated variables, for every task in workdir/generated.

  Raises:
    CorruptDataError: a task's folder is unreadable or fails its checksum (one line naming
      the folder).
  """
  directory = os.path.join(os.path.abspath(workdir), "generated")
  if not os.path.isdir(directory):
    return {}
  return {task: _load_verified(workdir, task) for task in sorted(os.listdir(directory))}


def _load_verified(workdir: str, task: str) -> Any:
  path = os.path.join(os.path.abspath(workdir), "generated", task)
  advice = "rerun --mode=sample to generate it again"
  try:
    stacked = store.load_unit(workdir, os.path.join("generated", task), "generated models")
  except CorruptDataError as e:
    raise CorruptDataError(f"{e}; {advice}") from None
  why = checkpoint.check_record(path, stacked)
  if why is not None:
    raise CorruptDataError(f"generated models {path}: {why}; {advice}")
  return stacked


def cached_vectors(path: str, names: list[str],
                   compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """{name: vector}, computed once per workdir and kept in `path` (.npz): a text encoder is
  loaded once, and the train and sample stages see identical vectors. Recomputed when the
  saved names differ from `names`."""
  if os.path.exists(path):
    saved = np.load(path)
    if list(saved["names"]) == names:
      return dict(zip(names, saved["vectors"]))
  found = compute()
  np.savez(path, names=np.asarray(names), vectors=np.stack([found[n] for n in names]))
  return found


def compiled_cost(fn: Callable, args: tuple, repeats: int) -> dict:
  """Cost of one call of `fn(*args)`: 'compile_s', 'seconds' (median of `repeats` calls of
  the compiled executable, results fetched to the host), 'times' (each call's seconds),
  'memory_bytes' (XLA's plan: arguments + outputs + temporaries) and 'memory_plan'."""
  start = time.perf_counter()
  executable = jax.jit(fn).lower(*args).compile()
  compile_s = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.device_get(executable(*args))
    times.append(time.perf_counter() - start)
  plan = memory.memory_of(executable)
  return {"compile_s": round(compile_s, 3), "seconds": float(np.median(times)),
          "times": [round(t, 5) for t in times],
          "memory_bytes": plan["temp"] + plan["argument"] + plan["output"], "memory_plan": plan}


def timing_repeats(config: Any) -> int:
  """`generate.timing_repeats` (calls timed for one model's cost), 3 where not set."""
  return int(config.generate.get("timing_repeats", 3))


def record_inference_cost(workdir: str, fn: Callable, args: tuple, trained: Any,
                          repeats: int) -> dict:
  """Times one model's generation and writes workdir/inference.json (read into report.json
  as 'inference' by `eval.entry.evaluate_generated`, and by the leaderboard).

  fn(*args) generates one model (the trained arrays among `args`, so one executable serves
  any task); trained: the generator's trained arrays (counted as 'generator_params').
  -> {'compile_s', 'seconds_per_model' (median of `repeats` compiled calls, fetched),
  'repeats', 'memory_bytes' (XLA's plan: arguments + outputs + temporaries), 'memory_plan',
  'generator_params'}.
  """
  cost = compiled_cost(fn, args, repeats)
  found = {"compile_s": cost["compile_s"], "seconds_per_model": cost["seconds"],
           "repeats": repeats, "memory_bytes": cost["memory_bytes"],
           "memory_plan": cost["memory_plan"],
           "generator_params": int(sum(np.size(x) for x in jax.tree_util.tree_leaves(trained)))}
  atomic_write_json(os.path.join(workdir, INFERENCE_FILE), found)
  return found


def codec_dir(workdir: str) -> str:
  """Where `train` saves the parameter codec that `sample` and eval load."""
  return os.path.join(workdir, "codec")
