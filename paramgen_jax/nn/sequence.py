"""Sequence backbones for RPG's recurrent prototype model, all (batch, L, dim) -> same.

  'mamba'       selective state-space layers (`ssm.MambaStack`, the default)
  'lstm'        stacked LSTMs (`nn.RNN` over `OptimizedLSTMCell`)
  'transformer' a causal pre-LN transformer; masked logits are -inf, so position i depends
                on no input after i (the official code's 1e-8 fill leaves it bidirectional)
  'gated_mlp'   per-position gated MLPs with no token mixing (the 'no relation' ablation)
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax.nn.ssm import MambaStack

BACKBONES = ("mamba", "lstm", "transformer", "gated_mlp")


class LSTMStack(nn.Module):
  dim: int
  num_layers: int = 2

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for i in range(self.num_layers):
      x = nn.RNN(nn.OptimizedLSTMCell(self.dim), name=f"lstm_{i}")(x)
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
  if kind == "lstm":
    return LSTMStack(dim, **options)
  if kind == "transformer":
    return CausalTransformer(dim, **options)
  if kind == "gated_mlp":
    return GatedMLP(dim, **options)
  raise ValueError(f"unknown backbone {kind!r}: use one of {', '.join(BACKBONES)}")
