"""A diffusion transformer over a short sequence of latent tokens, with a global condition.

    dit = SequenceDiT(dim=64, depth=4, heads=8, num_groups=3, num_positions=4)
    out = dit.apply(params, x_t, t, cond, group_ids, position_ids)
        # x_t (B, N, C), t (B,), cond (B, D) or None, group_ids / position_ids (N,) int
        # -> (B, N, C)

Tokens are projected to `dim`, given a sinusoidal timestep embedding and learned embeddings
of their group (LoRAGen: module type) and position (layer), then go through pre-LN
transformer layers (bidirectional attention). The condition is projected and added to every
token before every layer (LoRAGen's DiT adds its blended condition the same way).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax.nn.embeddings import TimestepEmbedding


class _Block(nn.Module):
  dim: int
  heads: int
  mlp_ratio: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = x + nn.MultiHeadDotProductAttention(self.heads, name="attention")(nn.LayerNorm()(x))
    y = nn.Dense(self.mlp_ratio * self.dim)(nn.LayerNorm()(x))
    return x + nn.Dense(self.dim)(nn.gelu(y))


class SequenceDiT(nn.Module):
  dim: int = 64
  depth: int = 4
  heads: int = 8
  mlp_ratio: int = 4
  num_groups: int = 1
  num_positions: int = 1

  @nn.compact
  def __call__(self, x_t: jax.Array, t: jax.Array, cond: jax.Array | None,
               group_ids: jax.Array, position_ids: jax.Array) -> jax.Array:
    channels = x_t.shape[-1]
    h = nn.Dense(self.dim, name="in")(x_t)
    h = h + TimestepEmbedding(self.dim, name="time")(t)[:, None, :]
    h = h + (nn.Embed(self.num_groups, self.dim, name="group")(group_ids)
             + nn.Embed(self.num_positions, self.dim, name="position")(position_ids))[None]
    for i in range(self.depth):
      if cond is not None:
        h = h + nn.Dense(self.dim, name=f"cond_{i}")(cond)[:, None, :]
      h = _Block(self.dim, self.heads, self.mlp_ratio, name=f"block_{i}")(h)
    return nn.Dense(channels, name="out", kernel_init=nn.initializers.zeros)(nn.LayerNorm()(h))
