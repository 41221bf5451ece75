"""Helpers every method uses to turn its config sections into library calls."""

from __future__ import annotations

from typing import Any, Callable

import jax

from paramgen_jax import diffusion
from paramgen_jax.train import TrainState, restore_latest, make_mesh, make_optimizer


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


def load_trained_params(config: Any, workdir: str,
                        init_params: Callable[[jax.Array], Any]) -> tuple[Any, int]:
  """The sampling parameters (EMA if kept) of the latest train checkpoint: (params, step)."""
  tx, _ = make_optimizer(config.train)
  abstract = jax.eval_shape(
      lambda k: TrainState.create(init_params(k), tx, use_ema=config.train.ema_decay > 0),
      jax.random.key(0))
  state, step = restore_latest(workdir, abstract)
  return state.eval_params(), step
