"""DDPM ancestral and DDIM samplers, each one `lax.scan` over the reverse steps.

Randomness: the sampler's key is split once into (init, steps); step i draws its noise
from `fold_in(steps_key, i)`, so a sample is a pure function of (key, cond, x_T) and the
same key gives the same parameters whatever the batch is later used for.

    x0 = ddim_sample(denoise_fn, schedule, (16, 256), key, cond=c, steps=60, eta=0.0)

`denoise_fn(x_t, t, cond)` is as in `gaussian.py`. Both samplers are traceable: wrap the
call in `jax.jit` with `denoise_fn` closed over (it usually closes over the parameters).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax.diffusion.gaussian import DenoiseFn, Prediction, to_x0_and_eps
from paramgen_jax.diffusion.schedules import Schedule, extract, per_example


def _maybe_clip(x0: jax.Array, clip_x0: float | None) -> jax.Array:
  return x0 if clip_x0 is None else jnp.clip(x0, -clip_x0, clip_x0)


def _initial_noise(key: jax.Array, shape: Sequence[int], x_T: jax.Array | None) -> jax.Array:
  return jax.random.normal(key, tuple(shape), jnp.float32) if x_T is None else x_T


def ddpm_step(denoise_fn: DenoiseFn, schedule: Schedule, x_t: jax.Array, t: jax.Array,
              key: jax.Array, *, cond: Any = None, prediction: Prediction = "eps",
              clip_x0: float | None = None) -> jax.Array:
  """One ancestral step x_t -> x_{t-1} with the posterior variance β̃_t. t: (B,) int32."""
  out = denoise_fn(x_t, t, cond)
  x0, _ = to_x0_and_eps(schedule, x_t, t, out, prediction)
  x0 = _maybe_clip(x0, clip_x0)
  mean = (extract(schedule.posterior_mean_coef_x0, t, x_t) * x0
          + extract(schedule.posterior_mean_coef_xt, t, x_t) * x_t)
  noise = jax.random.normal(key, x_t.shape, x_t.dtype)
  std = jnp.exp(0.5 * extract(schedule.posterior_log_variance, t, x_t))
  return mean + jnp.where(per_example(t > 0, x_t), std, 0.0) * noise  # none on the last step


def ddpm_sample(denoise_fn: DenoiseFn, schedule: Schedule, shape: Sequence[int],
                key: jax.Array, *, cond: Any = None, prediction: Prediction = "eps",
                clip_x0: float | None = None, x_T: jax.Array | None = None) -> jax.Array:
  """Ancestral sampling through all T steps: -> x_0 of `shape` (B, ...)."""
  init_key, steps_key = jax.random.split(key)
  x = _initial_noise(init_key, shape, x_T)
  num_steps = schedule.num_timesteps

  def body(x, i):
    t = jnp.full((x.shape[0],), num_steps - 1 - i, jnp.int32)
    x = ddpm_step(denoise_fn, schedule, x, t, jax.random.fold_in(steps_key, i), cond=cond,
                  prediction=prediction, clip_x0=clip_x0)
    return x, None

  x, _ = jax.lax.scan(body, x, jnp.arange(num_steps))
  return x


def ddim_timesteps(num_timesteps: int, steps: int) -> np.ndarray:
  """`steps` timesteps linearly spaced over [0, T-1] (as RPG), ascending and distinct."""
  if not 1 <= steps <= num_timesteps:
    raise ValueError(f"DDIM steps must be in [1, {num_timesteps}], got {steps}")
  return np.unique(np.linspace(0, num_timesteps - 1, steps).round().astype(np.int32))


def ddim_step(denoise_fn: DenoiseFn, schedule: Schedule, x_t: jax.Array, t: jax.Array,
              t_prev: jax.Array, key: jax.Array, *, cond: Any = None,
              prediction: Prediction = "eps", eta: float = 0.0,
              clip_x0: float | None = None) -> jax.Array:
  """One DDIM step x_t -> x_{t_prev} (Song et al. 2021, eq. 12). t, t_prev: (B,) int32,
  t_prev = -1 for the final step to x_0."""
  out = denoise_fn(x_t, t, cond)
  x0, eps = to_x0_and_eps(schedule, x_t, t, out, prediction)
  x0 = _maybe_clip(x0, clip_x0)
  if clip_x0 is not None:  # keep ε̂ consistent with the clipped x̂_0
    eps = (x_t - extract(schedule.sqrt_alphas_cumprod, t, x_t) * x0) / extract(
        schedule.sqrt_one_minus_alphas_cumprod, t, x_t)
  a_t = extract(schedule.alphas_cumprod, t, x_t)
  a_prev = per_example(jnp.where(t_prev >= 0, schedule.alphas_cumprod[jnp.maximum(t_prev, 0)],
                                 1.0), x_t)
  sigma = eta * jnp.sqrt((1 - a_prev) / (1 - a_t)) * jnp.sqrt(1 - a_t / a_prev)
  direction = jnp.sqrt(jnp.maximum(1 - a_prev - sigma**2, 0.0)) * eps
  noise = jax.random.normal(key, x_t.shape, x_t.dtype)
  return jnp.sqrt(a_prev) * x0 + direction + sigma * noise


def ddim_sample(denoise_fn: DenoiseFn, schedule: Schedule, shape: Sequence[int],
                key: jax.Array, *, steps: int = 60, eta: float = 0.0, cond: Any = None,
                prediction: Prediction = "eps", clip_x0: float | None = None,
                x_T: jax.Array | None = None) -> jax.Array:
  """DDIM sampling with `steps` steps and stochasticity `eta` (0: deterministic given x_T)."""
  init_key, steps_key = jax.random.split(key)
  x = _initial_noise(init_key, shape, x_T)
  times = ddim_timesteps(schedule.num_timesteps, steps)[::-1]
  prev_times = np.concatenate([times[1:], [-1]]).astype(np.int32)

  def body(x, inputs):
    i, t, t_prev = inputs
    batch = x.shape[0]
    x = ddim_step(denoise_fn, schedule, x, jnp.full((batch,), t, jnp.int32),
                  jnp.full((batch,), t_prev, jnp.int32), jax.random.fold_in(steps_key, i),
                  cond=cond, prediction=prediction, eta=eta, clip_x0=clip_x0)
    return x, None

  xs = (jnp.arange(len(times)), jnp.asarray(times.copy()), jnp.asarray(prev_times))
  x, _ = jax.lax.scan(body, x, xs)
  return x


def sample(denoise_fn: DenoiseFn, schedule: Schedule, shape: Sequence[int], key: jax.Array,
           *, sampler: str = "ddim", steps: int = 60, eta: float = 0.0, cond: Any = None,
           prediction: Prediction = "eps", clip_x0: float | None = None,
           x_T: jax.Array | None = None) -> jax.Array:
  """Dispatches to `ddpm_sample` (all T steps; `steps` and `eta` unused) or `ddim_sample`."""
  if sampler == "ddpm":
    return ddpm_sample(denoise_fn, schedule, shape, key, cond=cond, prediction=prediction,
                       clip_x0=clip_x0, x_T=x_T)
  if sampler == "ddim":
    return ddim_sample(denoise_fn, schedule, shape, key, steps=steps, eta=eta, cond=cond,
                       prediction=prediction, clip_x0=clip_x0, x_T=x_T)
  raise ValueError(f"sampler must be 'ddpm' or 'ddim', got {sampler!r}")
