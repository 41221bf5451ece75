"""Mamba-2 layers (Dao & Gu 2024, "state space duality"), written for one sequence.

Each of H heads runs a linear recurrence with a *scalar* decay per step,

    h_t = exp(Δ_t a) h_{t-1} + Δ_t x_t ⊗ B_t,     y_t = h_t C_t        (h_t: (P, N))

which unrolls to y = M (Δ x) with M[t, s] = (C_t · B_s) exp(Σ_{r=s+1..t} Δ_r a) for s ≤ t:
attention-like, with a decaying causal mask. `ssd_chunked` evaluates it in the SSD block
form: cut the sequence into chunks of Q steps; inside a chunk, M is a dense (Q, Q) matrix
product (matrix multiplies, not a scan); between chunks only the (H, P, N) states pass, by a
scan over the L / Q chunks. `ssd_sequential` is the plain recurrence (the reference the
tests compare against, in float64, values and gradients).

Shapes (one sequence; batch with `jax.vmap`):
  x (L, H, P)    dt (L, H) > 0    a (H,) < 0    B, C (L, G, N), head h reads group
  h // (H / G)   ->   y (L, H, P)
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax.nn.ssm import causal_depthwise_conv1d, residual_layers

MODES = ("chunked", "sequential")


def _per_head(bc: jax.Array, heads: int) -> jax.Array:
  """(L, G, N) -> (L, H, N): each group's B or C for the heads that read it."""
  return jnp.repeat(bc, heads // bc.shape[1], axis=1)


def ssd_sequential(x: jax.Array, dt: jax.Array, a: jax.Array, B: jax.Array,
                   C: jax.Array) -> jax.Array:
  """y (L, H, P) by the recurrence, one step at a time (`lax.scan`)."""
  heads = x.shape[1]

  def step(h, inputs):
    x_t, dt_t, b_t, c_t = inputs
    h = jnp.exp(dt_t * a)[:, None, None] * h + (dt_t[:, None] * x_t)[:, :, None] * b_t[:, None]
    return h, jnp.einsum("hpn,hn->hp", h, c_t)

  h0 = jnp.zeros(x.shape[1:] + (B.shape[-1],), x.dtype)
  _, y = jax.lax.scan(step, h0, (x, dt, _per_head(B, heads), _per_head(C, heads)))
  return y


def ssd_chunked(x: jax.Array, dt: jax.Array, a: jax.Array, B: jax.Array, C: jax.Array,
                chunk: int = 64) -> jax.Array:
  """y (L, H, P), the same as `ssd_sequential`, in chunks of `chunk` steps (see module
  docstring). Padding steps have Δ = 0: they neither decay nor drive the state."""
  length, heads = x.shape[:2]
  q = max(1, min(chunk, length))
  count = -(-length // q)
  pad = lambda v: jnp.pad(v, [(0, count * q - length)] + [(0, 0)] * (v.ndim - 1))
  split = lambda v: pad(v).reshape((count, q) + v.shape[1:])
  x, dt = split(x), split(dt)                                   # (c, Q, H, P), (c, Q, H)
  B, C = split(_per_head(B, heads)), split(_per_head(C, heads))  # (c, Q, H, N)
  log_decay = jnp.cumsum(dt * a[None, None, :], axis=1)          # (c, Q, H), non-increasing
  drive = dt[..., None] * x                                      # Δ x: (c, Q, H, P)
  # Inside a chunk: M[i, j] = (C_i · B_j) exp(log_decay_i - log_decay_j), i >= j.
  gap = log_decay[:, :, None, :] - log_decay[:, None, :, :]      # (c, Q_i, Q_j, H)
  causal = jnp.tril(jnp.ones((q, q), bool))[None, :, :, None]
  mask = jnp.exp(jnp.where(causal, gap, -jnp.inf))               # 0 above the diagonal
  scores = jnp.einsum("cihn,cjhn->cijh", C, B) * mask
  y = jnp.einsum("cijh,cjhp->cihp", scores, drive)
  # Each chunk's own contribution to the state at its end, then the states entering chunks.
  to_end = jnp.exp(log_decay[:, -1:, :] - log_decay)             # (c, Q, H)
  chunk_states = jnp.einsum("cjh,cjhp,cjhn->chpn", to_end, drive, B)
  chunk_decay = jnp.exp(log_decay[:, -1, :])                     # (c, H)

  def carry_state(state, inputs):
    decay, own = inputs
    return decay[:, None, None] * state + own, state

  _, entering = jax.lax.scan(carry_state, jnp.zeros_like(chunk_states[0]),
                             (chunk_decay, chunk_states))        # (c, H, P, N)
  y = y + jnp.exp(log_decay)[..., None] * jnp.einsum("cihn,chpn->cihp", C, entering)
  return y.reshape((count * q,) + y.shape[2:])[:length]


class Mamba2Layer(nn.Module):
  """One Mamba-2 mixer on a single sequence (L, d_model) -> (L, d_model).

  in_proj -> (z, xBC, Δ); xBC -> causal depthwise conv -> SiLU -> (x, B, C); SSD with one
  decay a_h per head; + D ⊙ x; RMSNorm(y ⊙ SiLU(z)); out_proj.
  """
  d_model: int
  d_state: int = 16
  d_conv: int = 4
  expand: int = 2
  head_dim: int = 64
  groups: int = 1
  chunk: int = 64
  dt_min: float = 1e-3
  dt_max: float = 1e-1
  mode: str = "chunked"

  @nn.compact
  def __call__(self, u: jax.Array) -> jax.Array:
    d_inner, n, g = self.expand * self.d_model, self.d_state, self.groups
    if d_inner % self.head_dim or (d_inner // self.head_dim) % g:
      raise ValueError(f"mamba2: head_dim {self.head_dim} must divide expand * d_model = "
                       f"{d_inner}, and groups {g} the number of heads")
    if self.mode not in MODES:
      raise ValueError(f"mamba2 mode must be one of {', '.join(MODES)}, got {self.mode!r}")
    heads = d_inner // self.head_dim
    zxbcdt = nn.Dense(2 * d_inner + 2 * g * n + heads, use_bias=False, name="in_proj")(u)
    z, xbc, dt = jnp.split(zxbcdt, [d_inner, 2 * d_inner + 2 * g * n], axis=-1)
    kernel = self.param("conv_kernel", nn.initializers.lecun_normal(in_axis=0, out_axis=1),
                        (self.d_conv, xbc.shape[-1]))
    bias = self.param("conv_bias", nn.initializers.zeros, (xbc.shape[-1],))
    xbc = nn.silu(causal_depthwise_conv1d(xbc, kernel) + bias[None, :])
    x, B, C = jnp.split(xbc, [d_inner, d_inner + g * n], axis=-1)
    length = u.shape[0]
    x = x.reshape(length, heads, self.head_dim)
    B, C = B.reshape(length, g, n), C.reshape(length, g, n)

    def dt_bias_init(key, shape, dtype=jnp.float32):  # softplus(bias) ~ logU[dt_min, dt_max]
      dt0 = jnp.exp(jax.random.uniform(key, shape, dtype) * (
          math.log(self.dt_max) - math.log(self.dt_min)) + math.log(self.dt_min))
      return dt0 + jnp.log(-jnp.expm1(-dt0))

    dt = nn.softplus(dt + self.param("dt_bias", dt_bias_init, (heads,))[None, :])
    a_log = self.param("A_log", lambda key, shape: jnp.log(
        jax.random.uniform(key, shape, minval=1.0, maxval=16.0)), (heads,))
    d_skip = self.param("D", nn.initializers.ones, (heads,))
    a = -jnp.exp(a_log)
    y = (ssd_chunked(x, dt, a, B, C, self.chunk) if self.mode == "chunked"
         else ssd_sequential(x, dt, a, B, C))
    y = (y + d_skip[None, :, None] * x).reshape(length, d_inner)
    y = nn.RMSNorm(name="norm")(y * nn.silu(z))
    return nn.Dense(self.d_model, use_bias=False, name="out_proj")(y)


class Mamba2Stack(nn.Module):
  """Pre-norm residual Mamba-2 layers over a batch: (batch, L, d_model) -> same."""
  d_model: int
  num_layers: int = 2
  d_state: int = 16
  d_conv: int = 4
  expand: int = 2
  head_dim: int = 64
  groups: int = 1
  chunk: int = 64
  mode: str = "chunked"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return residual_layers(x, Mamba2Layer, self.num_layers, self.d_model, self.d_state,
                           self.d_conv, self.expand, self.head_dim, self.groups, self.chunk,
                           mode=self.mode)
