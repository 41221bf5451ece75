"""Sequence backbones for RPG's recurrent prototype model, all (batch, L, dim) -> same.

  'mamba'       Mamba-1 selective state-space layers (`ssm.MambaStack`, a scan)
  'mamba2'      Mamba-2 layers (`mamba2.Mamba2Stack`, chunked SSD: matrix products), as the
                official RPG
  'lstm'        stacked LSTMs (`LSTMLayer`: input projections hoisted out of the scan)
  'transformer' a causal pre-LN transformer; masked logits are -inf, so position i depends
                on no input after i (the official code's 1e-8 fill leaves it bidirectional)
  'gated_mlp'   per-position gated MLPs with no token mixing (the 'no relation' ablation)
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax.nn.mamba2 import Mamba2Stack
from paramgen_jax.nn.ssm import MambaStack

BACKBONES = ("mamba", "mamba2", "lstm", "transformer", "gated_mlp")


def _lstm_gates(z: jax.Array) -> tuple[jax.Array, ...]:
  """Pre-activations (..., 4H) -> the gates i, f, g, o."""
  i, f, g, o = jnp.split(z, 4, axis=-1)
  return jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)


def _lstm_forward(projected: jax.Array, recurrent: jax.Array, unroll: int):
  """(hidden states (L, B, H), cells (L, B, H), pre-activations (L, B, 4H)); time-major."""
  hidden = recurrent.shape[0]

  def step(carry, p_t):
    h, c = carry
    z = p_t + h @ recurrent
    i, f, g, o = _lstm_gates(z)
    c = f * c + i * g
    h = o * jnp.tanh(c)
    return (h, c), (h, c, z)

  zeros = jnp.zeros((projected.shape[1], hidden), projected.dtype)
  _, (hs, cs, zs) = jax.lax.scan(step, (zeros, zeros), projected, unroll=unroll)
  return hs, cs, zs


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _lstm_time_major(projected: jax.Array, recurrent: jax.Array, unroll: int) -> jax.Array:
  return _lstm_forward(projected, recurrent, unroll)[0]


def _lstm_fwd(projected, recurrent, unroll):
  hs, cs, zs = _lstm_forward(projected, recurrent, unroll)
  return hs, (hs, cs, zs, recurrent)


def _lstm_bwd(unroll, residuals, d_hs):
  """Backward through time carrying (dh, dc) only; the recurrent kernel's gradient is one
  matrix product over all steps afterwards (autodiff of the scan would add an (H, 4H)
  outer product into it at every step)."""
  hs, cs, zs, recurrent = residuals
  previous = lambda a: jnp.concatenate([jnp.zeros_like(a[:1]), a[:-1]])
  c_prev = previous(cs)
  recurrent_t = recurrent.T

  def step(carry, inputs):
    dh_next, dc_next = carry
    d_h, c, c_before, z = inputs
    i, f, g, o = _lstm_gates(z)
    dh = d_h + dh_next
    tanh_c = jnp.tanh(c)
    dc = dc_next + dh * o * (1 - tanh_c * tanh_c)
    dz = jnp.concatenate([dc * g * i * (1 - i), dc * c_before * f * (1 - f),
                          dc * i * (1 - g * g), dh * tanh_c * o * (1 - o)], axis=-1)
    return (dz @ recurrent_t, dc * f), dz

  zeros = jnp.zeros_like(hs[0])
  _, dzs = jax.lax.scan(step, (zeros, zeros), (d_hs, cs, c_prev, zs), reverse=True,
                        unroll=unroll)
  d_recurrent = jnp.einsum("lbh,lbk->hk", previous(hs), dzs)
  return dzs, d_recurrent


_lstm_time_major.defvjp(_lstm_fwd, _lstm_bwd)


def lstm_scan(projected: jax.Array, recurrent: jax.Array, unroll: int = 8) -> jax.Array:
  """The LSTM recurrence over precomputed input projections.

  projected (B, L, 4H): x_t W_in + b for every step, gates ordered (i, f, g, o);
  recurrent (H, 4H). Returns the hidden states (B, L, H), from zero initial states:

      i, f, g, o = σ(z_i), σ(z_f), tanh(z_g), σ(z_o),  z = projected_t + h_{t-1} W_rec
      c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)

  Differentiable with a hand-written backward pass (`_lstm_bwd`); `lstm_scan_reference`
  is the same recurrence left to autodiff (tests compare the two).
  """
  hs = _lstm_time_major(jnp.swapaxes(projected, 0, 1), recurrent, unroll)
  return jnp.swapaxes(hs, 0, 1)


def lstm_scan_reference(projected: jax.Array, recurrent: jax.Array) -> jax.Array:
  """`lstm_scan` differentiated by JAX through the scan (slower backward)."""
  hs, _, _ = _lstm_forward(jnp.swapaxes(projected, 0, 1), recurrent, 1)
  return jnp.swapaxes(hs, 0, 1)


class LSTMLayer(nn.Module):
  """One LSTM layer (batch, L, D) -> (batch, L, H), the cell of `flax.linen.LSTMCell`
  (zero initial state, no peepholes; input kernels LeCun-normal, recurrent kernels
  orthogonal per gate, zero bias).

  The input projection of every step is one matrix multiply before the recurrence; only
  h_{t-1} W_rec is left inside the scan (`nn.RNN` over a cell projects inside it).
  """
  features: int
  unroll: int = 8

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    h = self.features
    w_in = self.param("input_kernel", nn.initializers.lecun_normal(), (x.shape[-1], 4 * h))
    orthogonal = nn.initializers.orthogonal()
    w_rec = self.param("recurrent_kernel", lambda key, shape: jnp.concatenate(
        [orthogonal(k, (h, h)) for k in jax.random.split(key, 4)], axis=1), (h, 4 * h))
    bias = self.param("bias", nn.initializers.zeros, (4 * h,))
    projected = x @ w_in.astype(x.dtype) + bias.astype(x.dtype).reshape((1,) * (x.ndim - 1) + (-1,))
    return lstm_scan(projected, w_rec.astype(x.dtype), self.unroll)


class LSTMStack(nn.Module):
  dim: int
  num_layers: int = 2
  unroll: int = 8

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for i in range(self.num_layers):
      x = LSTMLayer(self.dim, self.unroll, name=f"lstm_{i}")(x)
    return x


class CausalSelfAttention(nn.Module):
  dim: int
  heads: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b, length, _ = x.shape
    head_dim = self.dim // self.heads
    qkv = nn.Dense(3 * self.dim, name="qkv")(x).reshape(b, length, 3, self.heads, head_dim)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(head_dim).astype(x.dtype)
    causal = jnp.tril(jnp.ones((length, length), bool))[None, None]
    weights = jax.nn.softmax(jnp.where(causal, logits, -jnp.inf), axis=-1)
    out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, length, self.dim)
    return nn.Dense(self.dim, name="out")(out)


class CausalTransformer(nn.Module):
  dim: int
  num_layers: int = 2
  heads: int = 4
  mlp_ratio: int = 4

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for _ in range(self.num_layers):
      x = x + CausalSelfAttention(self.dim, self.heads)(nn.LayerNorm()(x))
      y = nn.Dense(self.mlp_ratio * self.dim)(nn.LayerNorm()(x))
      x = x + nn.Dense(self.dim)(nn.gelu(y))
    return nn.LayerNorm()(x)


class GatedMLP(nn.Module):
  dim: int
  num_layers: int = 2
  mlp_ratio: int = 2

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for _ in range(self.num_layers):
      y = nn.LayerNorm()(x)
      hidden = self.mlp_ratio * self.dim
      x = x + nn.Dense(self.dim)(nn.silu(nn.Dense(hidden)(y)) * nn.Dense(hidden)(y))
    return nn.LayerNorm()(x)


def make_backbone(kind: str, dim: int, **options: Any) -> nn.Module:
  """A backbone by name (see module docstring); options go to its constructor."""
  if kind == "mamba":
    return MambaStack(dim, **options)
  if kind == "mamba2":
    return Mamba2Stack(dim, **options)
  if kind == "lstm":
    return LSTMStack(dim, **options)
  if kind == "transformer":
    return CausalTransformer(dim, **options)
  if kind == "gated_mlp":
    return GatedMLP(dim, **options)
  raise ValueError(f"unknown backbone {kind!r}: use one of {', '.join(BACKBONES)}")
