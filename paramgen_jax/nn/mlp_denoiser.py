"""A small MLP denoiser for vectors: the reference denoiser of tests, toys and benches."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax.nn.embeddings import TimestepEmbedding


class MLPDenoiser(nn.Module):
  """(x_t (B, D), t (B,), cond (B, C) or None) -> (B, D).

  Residual MLP blocks; the timestep (and condition) embedding is added before each block.
  """
  hidden: int = 128
  depth: int = 3
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, t: jax.Array, cond: jax.Array | None = None) -> jax.Array:
    emb = TimestepEmbedding(self.hidden)(t)
    if cond is not None:
      emb = emb + nn.Dense(self.hidden)(cond.astype(jnp.float32))
    h = nn.Dense(self.hidden, dtype=self.dtype)(x)
    for _ in range(self.depth):
      skip = h
      h = nn.LayerNorm(dtype=self.dtype)(h + emb)
      h = nn.Dense(self.hidden, dtype=self.dtype)(nn.silu(h))
      h = skip + nn.Dense(self.hidden, dtype=self.dtype)(nn.silu(h))
    return nn.Dense(x.shape[-1], dtype=self.dtype)(nn.silu(h)).astype(jnp.float32)
