"""Diffusion on a 1-D Gaussian mixture, in memory: draw, train, sample, score.

    points = draw_mixture(means, stds, weights, 20000, seed=0)        # (N, 1)
    state = train_denoiser(config, points, workdir)
    samples = sample_points(config, state.eval_params(), 4000, key)  # (4000, 1)
    component_stats(samples, means)   # per component: weight, mean, std
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import diffusion
from paramgen_jax import stage_helpers as H
from paramgen_jax.nn import MLPDenoiser
from paramgen_jax.train import fit

def draw_mixture(means, stds, weights, num_points: int, seed: int) -> np.ndarray:
  """(num_points, 1) float32 points from the mixture (NumPy, deterministic in `seed`)."""
  rng = np.random.default_rng(seed)
  component = rng.choice(len(means), size=num_points, p=np.asarray(weights) / sum(weights))
  points = rng.normal(np.asarray(means)[component], np.asarray(stds)[component])
  return points.astype(np.float32)[:, None]


def component_stats(points: np.ndarray, means) -> dict:
  """Assigns each point to the nearest true mean: per component weight, mean and std."""
  means = np.asarray(means, np.float64)
  x = np.asarray(points, np.float64).reshape(-1)
  nearest = np.argmin(np.abs(x[:, None] - means[None, :]), axis=1)
  out = {"weight": [], "mean": [], "std": []}
  for k in range(len(means)):
    members = x[nearest == k]
    out["weight"].append(float(members.size / max(x.size, 1)))
    out["mean"].append(float(members.mean()) if members.size else float("nan"))
    out["std"].append(float(members.std()) if members.size > 1 else float("nan"))
  return out


def make_model(config: Any) -> MLPDenoiser:
  """The denoiser of the `model` section."""
  return MLPDenoiser(hidden=config.model.hidden, depth=config.model.depth)


def init_fn(config: Any):
  """key -> the denoiser's initial parameters."""
  model = make_model(config)
  return lambda key: model.init(key, jnp.zeros((1, 1)), jnp.zeros((1,), jnp.int32))


def train_denoiser(config: Any, data: np.ndarray, workdir: str, **fit_kwargs):
  """Trains the denoiser on `data` (N, 1); returns the final train state."""
  model, schedule = make_model(config), H.schedule_from_config(config.diffusion)
  pick = H.random_rows(config.data.seed + 1, len(data), config.train.batch_size)

  def loss_fn(params, batch, rng):
    return diffusion.diffusion_loss(lambda x, t, c: model.apply(params, x, t, c), schedule,
                                    batch, rng, prediction=config.diffusion.prediction)

  return fit(config.train, init_params=init_fn(config), loss_fn=loss_fn,
             batch_fn=lambda step: data[pick(step)],
             workdir=workdir, key=jax.random.key(config.train.seed),
             mesh=H.mesh_from_config(config), **fit_kwargs)


def sample_points(config: Any, params: Any, num_samples: int, key: jax.Array) -> np.ndarray:
  """(num_samples, 1) points from the trained denoiser with the configured sampler."""
  model, schedule = make_model(config), H.schedule_from_config(config.diffusion)
  denoise = lambda x, t, c: model.apply(params, x, t, c)
  run = jax.jit(lambda k: diffusion.sample(denoise, schedule, (num_samples, 1), k,
                                           **H.sampler_kwargs(config)))
  return np.asarray(run(key))
