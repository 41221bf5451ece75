"""β schedules and the quantities derived from them (DDPM, Ho et al. 2020).

Everything is computed in NumPy float64 and cast to float32 once: `jnp.linspace(...,
dtype=float64)` is silently float32 without x64, and cumulative products drift in float32.

Timesteps are integers t in [0, T): index t holds β_{t+1} in the papers' 1-based notation,
so `alphas_cumprod[0] = 1 - β_1` and `alphas_cumprod[T-1] = ᾱ_T`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Schedule(NamedTuple):
  """Per-timestep coefficients, each (T,) float32. A pytree: pass it through `jax.jit`.

  Attributes:
    betas: β_t.
    alphas_cumprod: ᾱ_t = Π_{s<=t} (1 - β_s).
    alphas_cumprod_prev: ᾱ_{t-1}, with ᾱ_{-1} = 1.
    sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod: √ᾱ_t, √(1-ᾱ_t).
    posterior_variance: β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t) of q(x_{t-1} | x_t, x_0).
    posterior_log_variance: log β̃_t, with β̃_0 replaced by β̃_1 (β̃_0 is 0).
    posterior_mean_coef_x0, posterior_mean_coef_xt: μ̃_t = c0 x_0 + ct x_t.
  """
  betas: jax.Array
  alphas_cumprod: jax.Array
  alphas_cumprod_prev: jax.Array
  sqrt_alphas_cumprod: jax.Array
  sqrt_one_minus_alphas_cumprod: jax.Array
  posterior_variance: jax.Array
  posterior_log_variance: jax.Array
  posterior_mean_coef_x0: jax.Array
  posterior_mean_coef_xt: jax.Array

  @property
  def num_timesteps(self) -> int:
    return self.betas.shape[0]


def linear_betas(num_timesteps: int, beta_start: float = 1e-4,
                 beta_end: float = 0.02) -> np.ndarray:
  """β linearly spaced from beta_start to beta_end (RPG, p-diff: 1e-4 -> 0.02, T=1000)."""
  return np.linspace(beta_start, beta_end, num_timesteps, dtype=np.float64)


def cosine_alphas_cumprod(num_timesteps: int, s: float = 0.008) -> np.ndarray:
  """Closed form ᾱ_t = f(t+1)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2) (Nichol & Dhariwal)."""
  steps = np.arange(num_timesteps + 1, dtype=np.float64)
  f = np.cos((steps / num_timesteps + s) / (1 + s) * math.pi / 2) ** 2
  return f[1:] / f[0]


def cosine_betas(num_timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
  """β_t = 1 - ᾱ_t / ᾱ_{t-1} of the cosine schedule, clipped at max_beta."""
  alphas_cumprod = np.concatenate([[1.0], cosine_alphas_cumprod(num_timesteps, s)])
  return np.clip(1 - alphas_cumprod[1:] / alphas_cumprod[:-1], 0, max_beta)


def make_schedule(betas: np.ndarray) -> Schedule:
  """Derives every coefficient from β (float64 maths, float32 result)."""
  betas = np.asarray(betas, np.float64)
  if betas.ndim != 1 or not np.all((betas > 0) & (betas < 1)):
    raise ValueError("betas must be a 1-d array with values in (0, 1)")
  alphas_cumprod = np.cumprod(1.0 - betas)
  alphas_cumprod_prev = np.concatenate([[1.0], alphas_cumprod[:-1]])
  posterior_variance = betas * (1 - alphas_cumprod_prev) / (1 - alphas_cumprod)
  clipped = np.concatenate([posterior_variance[1:2], posterior_variance[1:]]) if (
      len(betas) > 1) else betas
  f32 = lambda a: jnp.asarray(a, jnp.float32)
  return Schedule(
      betas=f32(betas),
      alphas_cumprod=f32(alphas_cumprod),
      alphas_cumprod_prev=f32(alphas_cumprod_prev),
      sqrt_alphas_cumprod=f32(np.sqrt(alphas_cumprod)),
      sqrt_one_minus_alphas_cumprod=f32(np.sqrt(1 - alphas_cumprod)),
      posterior_variance=f32(posterior_variance),
      posterior_log_variance=f32(np.log(clipped)),
      posterior_mean_coef_x0=f32(betas * np.sqrt(alphas_cumprod_prev) / (1 - alphas_cumprod)),
      posterior_mean_coef_xt=f32((1 - alphas_cumprod_prev) * np.sqrt(1 - betas)
                                 / (1 - alphas_cumprod)),
  )


def get_schedule(name: str, num_timesteps: int, *, beta_start: float = 1e-4,
                 beta_end: float = 0.02, cosine_s: float = 0.008) -> Schedule:
  """Schedule by name: 'linear' or 'cosine'."""
  if name == "linear":
    return make_schedule(linear_betas(num_timesteps, beta_start, beta_end))
  if name == "cosine":
    return make_schedule(cosine_betas(num_timesteps, cosine_s))
  raise ValueError(f"unknown schedule {name!r}: use 'linear' or 'cosine'")


def per_example(values: jax.Array, x: jax.Array) -> jax.Array:
  """(B,) values reshaped to broadcast against x (B, ...)."""
  return values.reshape(values.shape + (1,) * (x.ndim - values.ndim))


def extract(coef: jax.Array, t: jax.Array, x: jax.Array) -> jax.Array:
  """coef[t] for a batch of timesteps t (B,), broadcast against x (B, ...)."""
  return per_example(coef[t], x)
