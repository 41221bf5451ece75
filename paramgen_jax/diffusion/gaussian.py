"""Forward process, parameterizations and the training loss.

A denoiser is any function `denoise_fn(x_t, t, cond) -> out` with x_t (B, ...), t (B,) int32
timesteps and `cond` whatever the method conditions on (None for unconditional models).
`out` is ε, v or x_0 depending on `prediction`:

    ε-prediction:  out ≈ ε
    v-prediction:  out ≈ v = √ᾱ_t ε - √(1-ᾱ_t) x_0          (Salimans & Ho 2022)
    x0-prediction: out ≈ x_0
"""

from __future__ import annotations

from typing import Any, Callable, Literal

import jax
import jax.numpy as jnp

from paramgen_jax.diffusion.schedules import Schedule, extract

Prediction = Literal["eps", "v", "x0"]
DenoiseFn = Callable[[jax.Array, jax.Array, Any], jax.Array]
PREDICTIONS = ("eps", "v", "x0")


def q_sample(schedule: Schedule, x0: jax.Array, t: jax.Array, noise: jax.Array) -> jax.Array:
  """x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε. x0, noise: (B, ...); t: (B,)."""
  return (extract(schedule.sqrt_alphas_cumprod, t, x0) * x0
          + extract(schedule.sqrt_one_minus_alphas_cumprod, t, x0) * noise)


def prediction_target(schedule: Schedule, x0: jax.Array, t: jax.Array, noise: jax.Array,
                      prediction: Prediction) -> jax.Array:
  """What the denoiser should output at (x_0, t, ε)."""
  if prediction == "eps":
    return noise
  if prediction == "x0":
    return x0
  if prediction == "v":
    return (extract(schedule.sqrt_alphas_cumprod, t, x0) * noise
            - extract(schedule.sqrt_one_minus_alphas_cumprod, t, x0) * x0)
  raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")


def to_x0_and_eps(schedule: Schedule, x_t: jax.Array, t: jax.Array, out: jax.Array,
                  prediction: Prediction) -> tuple[jax.Array, jax.Array]:
  """Converts a denoiser output at (x_t, t) to the implied (x̂_0, ε̂)."""
  a = extract(schedule.sqrt_alphas_cumprod, t, x_t)
  s = extract(schedule.sqrt_one_minus_alphas_cumprod, t, x_t)
  if prediction == "eps":
    return (x_t - s * out) / a, out
  if prediction == "x0":
    return out, (x_t - a * out) / s
  if prediction == "v":
    # With a² + s² = 1: x_0 = a x_t - s v and ε = s x_t + a v.
    return a * x_t - s * out, s * x_t + a * out
  raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")


def masked_mean(values: jax.Array, mask: jax.Array | None) -> jax.Array:
  """Mean of `values` over the entries where `mask` (broadcastable) is True."""
  if mask is None:
    return jnp.mean(values)
  mask = jnp.broadcast_to(mask, values.shape).astype(values.dtype)
  return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def diffusion_loss(denoise_fn: DenoiseFn, schedule: Schedule, x0: jax.Array, key: jax.Array,
                   *, cond: Any = None, prediction: Prediction = "eps",
                   mask: jax.Array | None = None) -> tuple[jax.Array, dict]:
  """The simple DDPM loss: E_{t, ε} |out(x_t, t) - target|² over unmasked entries.

  Args:
    denoise_fn: `(x_t, t, cond) -> out`.
    schedule: the β schedule.
    x0: (B, ...) clean data.
    key: PRNG key for t ~ U{0..T-1} and ε ~ N(0, I).
    cond: passed through to `denoise_fn`.
    prediction: 'eps', 'v' or 'x0'.
    mask: optional bool, broadcastable to x0; False entries (padding) carry no loss.

  Returns:
    (scalar loss, {"loss": loss, "t_mean": mean timestep}).
  """
  t_key, noise_key = jax.random.split(key)
  t = jax.random.randint(t_key, (x0.shape[0],), 0, schedule.num_timesteps)
  noise = jax.random.normal(noise_key, x0.shape, x0.dtype)
  x_t = q_sample(schedule, x0, t, noise)
  out = denoise_fn(x_t, t, cond)
  target = prediction_target(schedule, x0, t, noise, prediction)
  loss = masked_mean(jnp.square(out.astype(jnp.float32) - target.astype(jnp.float32)), mask)
  return loss, {"loss": loss, "t_mean": jnp.mean(t.astype(jnp.float32))}
