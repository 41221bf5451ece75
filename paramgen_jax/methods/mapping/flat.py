"""The mapping's MLP decoder side (`generator.decoder = 'mlp'`): the decoder predicts every
weight coordinate of the model, standardized by its mean and std over the training models.

Every task of a zoo with a shared initialization starts from the same weights, so most of a
coordinate's value is common to all tasks; standardizing each coordinate leaves the decoder
the part that depends on the condition. (The structure-aware arrangement z-scores each
model's layer instead, which keeps the common part in the targets.) With `generator.residual
= 'ridge'` (either decoder) the decoder learns what a ridge regression from the condition
to the weights misses (`regression.ridge_residuals`, `regression.add_ridge`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import params as P
from paramgen_jax.params.normalize import (TaskStats, denormalize_task, fit_pooled_stats,
                                           normalize_task)


def standardized(layout: P.ParamLayout, zoo: Any) -> tuple[np.ndarray, TaskStats]:
  """(targets (N, P) float32, scale) for stacked models `zoo` (leaves (N, ...)): the scale is
  every coordinate's mean and std over the N models (`TaskStats` of one task, (1, P))."""
  vectors = jax.jit(jax.vmap(layout.to_vector))(zoo)
  scale = fit_pooled_stats(vectors)
  return np.asarray(jax.vmap(normalize_task, in_axes=(0, None, None))(vectors, 0, scale)), scale


def loss_function(net: Any, condition_noise: float, target_noise: float):
  """`(params, batch, rng) -> (loss, metrics)`; batch {'condition' (B, F), 'coordinates'
  (B, P)}: the mean squared error over coordinates, with Gaussian noise on both."""

  def loss_fn(params, batch, rng):
    k_cond, k_target = jax.random.split(rng)
    cond = batch["condition"]
    cond = cond + condition_noise * jax.random.normal(k_cond, cond.shape)
    target = batch["coordinates"]
    target = target + target_noise * jax.random.normal(k_target, target.shape)
    mse = jnp.mean(jnp.square(net.apply(params, cond) - target))
    return mse, {"mse_coordinates": mse}
  return loss_fn


def models_from(layout: P.ParamLayout, scale: TaskStats, coordinates: jax.Array) -> Any:
  """Standardized coordinates (M, P) -> M stacked models of `layout`."""
  vectors = jax.vmap(denormalize_task, in_axes=(0, None, None))(coordinates, 0, scale)
  return jax.vmap(layout.from_vector)(vectors)
