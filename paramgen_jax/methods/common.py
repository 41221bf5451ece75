"""Helpers every method uses to turn its config sections into library calls."""

from __future__ import annotations

import os
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from paramgen_jax import diffusion
from paramgen_jax.train import TrainState, restore_latest, make_mesh, make_optimizer
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
  """
  train_cfg = config.train if train_cfg is None else train_cfg
  tx, _ = make_optimizer(train_cfg)
  abstract = jax.eval_shape(
      lambda k: TrainState.create(init_params(k), tx, use_ema=train_cfg.ema_decay > 0),
      jax.random.key(0))
  state, step = restore_latest(workdir, abstract)
  return state.eval_params(), step


def save_generated(workdir: str, task: str, stacked: Any) -> None:
  """Writes one task's generated models (stacked variables) to workdir/generated/<task>."""
  path = os.path.join(os.path.abspath(workdir), "generated", task)
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(path, jax.tree_util.tree_map(np.asarray, stacked), force=True)
    checkpointer.wait_until_finished()


def load_generated(workdir: str) -> dict[str, Any]:
  """Task name -> stacked generated variables, for every task in workdir/generated."""
  directory = os.path.join(os.path.abspath(workdir), "generated")
  if not os.path.isdir(directory):
    return {}
  return {task: store.load_unit(workdir, os.path.join("generated", task))
          for task in sorted(os.listdir(directory))}
