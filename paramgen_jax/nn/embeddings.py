"""Sinusoidal embeddings shared by the denoisers and position encodings."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def sinusoidal_embedding(positions: jax.Array, dim: int, max_period: float = 10000.0) -> jax.Array:
  """Transformer-style embedding of (...,) positions -> (..., dim): [cos | sin] halves."""
  half = dim // 2
  freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / max(half, 1))
  angles = positions.astype(jnp.float32)[..., None] * freqs.reshape((1,) * positions.ndim + (half,))
  emb = jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], axis=-1)
  return jnp.pad(emb, [(0, 0)] * (emb.ndim - 1) + [(0, dim - 2 * half)])


class TimestepEmbedding(nn.Module):
  """t (B,) -> (B, features): sinusoid (frequencies) -> Dense -> SiLU -> Dense."""
  features: int
  frequencies: int = 256

  @nn.compact
  def __call__(self, t: jax.Array) -> jax.Array:
    h = sinusoidal_embedding(t, self.frequencies)
    h = nn.silu(nn.Dense(self.features)(h))
    return nn.Dense(self.features)(h)
