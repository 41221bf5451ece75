"""Mamba-style selective state-space layers (Gu & Dao 2023), written for one sequence.

The core is the diagonal, input-dependent linear recurrence

    h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t,     y_t = h_t C_t + D ⊙ u_t

with two interchangeable evaluations: `lax.scan` (sequential, O(L) depth, least memory, the
fastest on CPUs) and `lax.associative_scan` (O(log L) depth, for accelerators; it
materializes the (L, D, N) states). Tests check that they agree, in values and gradients.

Shapes (one sequence; batch with `jax.vmap`):
  u, delta: (L, D)    B, C: (L, N)    A: (D, N), negative    D_skip: (D,)    y: (L, D)
"""

from __future__ import annotations

import math
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

ScanMode = Literal["scan", "associative"]


def selective_scan(u: jax.Array, delta: jax.Array, A: jax.Array, B: jax.Array, C: jax.Array,
                   D_skip: jax.Array, *, mode: ScanMode = "scan") -> jax.Array:
  """y (L, D) of the selective SSM over one sequence (see module docstring)."""
  if mode == "scan":
    def step(h, inputs):
      u_t, delta_t, B_t, C_t = inputs
      h = jnp.exp(delta_t[:, None] * A) * h + (delta_t * u_t)[:, None] * B_t[None, :]
      return h, h @ C_t

    h0 = jnp.zeros(A.shape, u.dtype)
    _, y = jax.lax.scan(step, h0, (u, delta, B, C))
  elif mode == "associative":
    decay = jnp.exp(delta[:, :, None] * A[None])                    # (L, D, N)
    drive = (delta * u)[:, :, None] * B[:, None, :]                 # (L, D, N)

    def combine(left, right):  # (a1, b1) then (a2, b2): h -> a2 (a1 h + b1) + b2
      return right[0] * left[0], right[0] * left[1] + right[1]

    _, h = jax.lax.associative_scan(combine, (decay, drive), axis=0)
    y = jnp.einsum("ldn,ln->ld", h, C)
  else:
    raise ValueError(f"mode must be 'scan' or 'associative', got {mode!r}")
  return y + u * D_skip[None, :]


def causal_depthwise_conv1d(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """x (L, D), kernel (K, D): y_t = Σ_k kernel[k] ⊙ x_{t-K+1+k} (zeros before the start)."""
  k = kernel.shape[0]
  padded = jnp.pad(x, ((k - 1, 0), (0, 0)))
  length = x.shape[0]
  return sum(padded[i:i + length] * kernel[i][None, :] for i in range(k))


class MambaLayer(nn.Module):
  """One Mamba mixer on a single sequence (L, d_model) -> (L, d_model).

  in_proj -> (x, z); x -> causal depthwise conv -> SiLU -> selective SSM with Δ, B, C
  computed from x; output gated by SiLU(z); out_proj.
  """
  d_model: int
  d_state: int = 16
  d_conv: int = 4
  expand: int = 2
  dt_min: float = 1e-3
  dt_max: float = 1e-1
  mode: ScanMode = "scan"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    d_inner = self.expand * self.d_model
    dt_rank = max(1, math.ceil(self.d_model / 16))
    xz = nn.Dense(2 * d_inner, use_bias=False, name="in_proj")(x)
    x, z = jnp.split(xz, 2, axis=-1)
    conv_kernel = self.param("conv_kernel", nn.initializers.lecun_normal(in_axis=0, out_axis=1),
                             (self.d_conv, d_inner))
    conv_bias = self.param("conv_bias", nn.initializers.zeros, (d_inner,))
    x = nn.silu(causal_depthwise_conv1d(x, conv_kernel) + conv_bias[None, :])
    dt_b_c = nn.Dense(dt_rank + 2 * self.d_state, use_bias=False, name="x_proj")(x)
    dt, B, C = jnp.split(dt_b_c, [dt_rank, dt_rank + self.d_state], axis=-1)

    def dt_bias_init(key, shape, dtype=jnp.float32):  # softplus(bias) ~ logU[dt_min, dt_max]
      dt0 = jnp.exp(jax.random.uniform(key, shape, dtype) * (math.log(self.dt_max) - math.log(
          self.dt_min)) + math.log(self.dt_min))
      return dt0 + jnp.log(-jnp.expm1(-dt0))

    delta = nn.softplus(nn.Dense(d_inner, bias_init=dt_bias_init, name="dt_proj")(dt))
    a_log = self.param("A_log", lambda key, shape: jnp.log(jnp.broadcast_to(
        jnp.arange(1, self.d_state + 1, dtype=jnp.float32), shape)), (d_inner, self.d_state))
    d_skip = self.param("D", nn.initializers.ones, (d_inner,))
    y = selective_scan(x, delta, -jnp.exp(a_log), B, C, d_skip, mode=self.mode)
    return nn.Dense(self.d_model, use_bias=False, name="out_proj")(y * nn.silu(z))


class MambaStack(nn.Module):
  """Pre-norm residual Mamba layers over a batch: (batch, L, d_model) -> same."""
  d_model: int
  num_layers: int = 2
  d_state: int = 16
  d_conv: int = 4
  expand: int = 2
  mode: ScanMode = "scan"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return residual_layers(x, MambaLayer, self.num_layers, self.d_model, self.d_state,
                           self.d_conv, self.expand, mode=self.mode)


def residual_layers(x: jax.Array, layer_class: type, num_layers: int, *args, **kwargs):
  """x (batch, L, d) -> x + layer_i(RMSNorm(x)) for each of `num_layers` layers, then
  RMSNorm; each layer (written for one sequence) is vmapped over the batch with shared
  parameters. Call it inside a compact method: the submodules are named layer_i, norm_i,
  norm_out."""
  layer = nn.vmap(layer_class, variable_axes={"params": None}, split_rngs={"params": False})
  for i in range(num_layers):
    x = x + layer(*args, **kwargs, name=f"layer_{i}")(nn.RMSNorm(name=f"norm_{i}")(x))
  return nn.RMSNorm(name="norm_out")(x)
