"""LoRA: a Dense layer with a frozen base kernel and a trainable low-rank update.

    y = x W + b + (alpha / rank) · x A B,   A (in, rank) ~ N(0, 1/in), B (rank, out) = 0

With rank 0 it is a plain Dense. B starts at zero, so a fresh adapter leaves the base
model's outputs unchanged. `lora_mask` marks the adapter leaves (for optax.masked /
multi_transform), and `ParamLayout.from_template(..., keep_constant=BASE_PATTERNS)` makes a
layout whose generated vector holds only the adapters.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax.params.layout import path_to_str

LORA_NAMES = ("lora_a", "lora_b")
# Regexes over leaf paths of everything that is *not* an adapter (for ParamLayout).
BASE_PATTERNS = (r"^(?!.*/lora_[ab]$).*$",)


class LoRADense(nn.Module):
  features: int
  rank: int = 0
  alpha: float = 1.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    y = nn.Dense(self.features, name="base")(x)
    if self.rank <= 0:
      return y
    a = self.param("lora_a", nn.initializers.normal(1.0 / jnp.sqrt(x.shape[-1])),
                   (x.shape[-1], self.rank))
    b = self.param("lora_b", nn.initializers.zeros, (self.rank, self.features))
    return y + (self.alpha / self.rank) * (x @ a) @ b


def lora_mask(params: Any) -> Any:
  """Same structure as `params`: True on LoRA leaves, False on base weights."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: path_to_str(path).rsplit("/", 1)[-1] in LORA_NAMES, params)


def lora_delta(params: Any, alpha: float, rank: int) -> dict[str, jax.Array]:
  """ΔW = (alpha / rank) A B of every adapted layer: {layer path: (in, out)}."""
  deltas = {}
  flat = {path_to_str(p): v for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}
  for path, a in flat.items():
    if path.endswith("/lora_a"):
      layer = path[:-len("/lora_a")]
      deltas[layer] = (alpha / rank) * a @ flat[layer + "/lora_b"]
  return deltas
