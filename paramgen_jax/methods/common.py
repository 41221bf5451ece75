"""Helpers every method uses to turn its config sections into library calls."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from paramgen_jax import diffusion
from paramgen_jax.errors import CorruptDataError, NonFiniteError
from paramgen_jax.integrity import nonfinite_sets
from paramgen_jax.train import TrainState, checkpoint, restore_latest, make_mesh, make_optimizer
from paramgen_jax.zoo import store


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
  return make_mesh(dict(config.mesh))


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
  return state.eval_params(), step


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
