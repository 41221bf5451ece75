"""Position embeddings of parameter tokens (RPG): 2-D sinusoidal by default.

Every token has a layer index and an index within its layer (`params.TokenLayout`):
  '2d'        half the channels encode the token-in-layer index, half the layer index
  '1d'        sinusoid of the flat token index
  'learnable' a trained (num_tokens, dim) table, initialized N(0, 0.02²)
  'none'      zeros
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax.nn.embeddings import sinusoidal_embedding

POSITION_KINDS = ("2d", "1d", "learnable", "none")


def sinusoidal_2d(layer_index: jax.Array, token_in_layer: jax.Array, dim: int) -> jax.Array:
  """(S,), (S,) -> (S, dim): [token-in-layer sinusoid | layer sinusoid]."""
  half = dim // 2
  return jnp.concatenate([sinusoidal_embedding(token_in_layer, half),
                          sinusoidal_embedding(layer_index, dim - half)], axis=-1)


class TokenPositions(nn.Module):
  """(S,) layer indices and (S,) token-in-layer indices -> (S, dim)."""
  dim: int
  kind: str = "2d"

  @nn.compact
  def __call__(self, layer_index: jax.Array, token_in_layer: jax.Array) -> jax.Array:
    num_tokens = layer_index.shape[0]
    if self.kind == "2d":
      return sinusoidal_2d(layer_index, token_in_layer, self.dim)
    if self.kind == "1d":
      return sinusoidal_embedding(jnp.arange(num_tokens), self.dim)
    if self.kind == "learnable":
      return self.param("table", nn.initializers.normal(0.02), (num_tokens, self.dim))
    if self.kind == "none":
      return jnp.zeros((num_tokens, self.dim))
    raise ValueError(f"unknown position embedding {self.kind!r}: use one of "
                     f"{', '.join(POSITION_KINDS)}")

