"""The semantic-to-parameter decoder: condition -> prototype -> hybrid blocks -> heads.

    net = MappingNet(volume=(L, R, C), encoder_dim=64, prototype=(8, 16, 16),
                     shapes=((8, 32, 32),) * 3, kernel=5)
    w_hat, b_hat, stats = net.apply(params, conditions)   # (B, F) -> (B, L, R, C),
                                                          #   (B, L, C), (B, L, 4)

The condition goes through a linear encoder and the linear *deformation* (a Dense reshaped
into the 3-D prototype (N0, H0, W0)); the cascaded `HybridDecoder` mixes it; the multi-head
projection has separate paths per parameter type and per layer: layer l's weights are
Σ_n P_{l,n}ᵀ X_n Q_{l,n} + O_l over the decoder's N output maps X_n (H, W); its bias and its
four statistics linear maps of every map's row and column means.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax.nn.hybrid_conv import HybridDecoder


class MultiHeadProjection(nn.Module):
  """(B, N, H, W) -> normalized weights (B, L, R, C), biases (B, L, C), stats (B, L, 4)."""
  volume: tuple[int, int, int]

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    layers, rows, cols = self.volume
    _, n, h, w = x.shape
    # Layer l's weights: sum over the decoder's N maps of P_{l,n}ᵀ X_n Q_{l,n} (a separate
    # path per layer and map: N·H·W coefficients per layer, the variation across tasks
    # of a layer's normalized weights is high-rank).
    row_map = self.param("row_map", nn.initializers.normal((n * h) ** -0.5),
                         (layers, n, h, rows))
    col_map = self.param("col_map", nn.initializers.normal(w ** -0.5), (layers, n, w, cols))
    weights = jnp.einsum("blnrw,lnwc->blrc", jnp.einsum("bnhw,lnhr->blnrw", x, row_map),
                         col_map)
    weights = weights + self.param("weight_offset", nn.initializers.zeros,
                                   (layers, rows, cols))[None]
    # Biases and statistics: per layer, linear maps of every map's row and column means.
    pooled = jnp.concatenate([x.mean(2), x.mean(3)], axis=-1).reshape(x.shape[0], -1)
    k = pooled.shape[-1]
    bias_map = self.param("bias_map", nn.initializers.normal(k ** -0.5), (layers, k, cols))
    biases = jnp.einsum("bk,lkc->blc", pooled, bias_map)
    biases = biases + self.param("bias_offset", nn.initializers.zeros, (layers, cols))[None]
    stats_map = self.param("stats_map", nn.initializers.normal(k ** -0.5), (layers, k, 4))
    stats = jnp.einsum("bk,lks->bls", pooled, stats_map)
    stats = stats + self.param("stats_offset", nn.initializers.zeros, (layers, 4))[None]
    return weights, biases, stats


class MappingNet(nn.Module):
  """Condition (B, F) -> (normalized weights, biases, standardized stats) of the volume."""
  volume: tuple[int, int, int]
  encoder_dim: int
  prototype: tuple[int, int, int]
  shapes: Sequence[tuple[int, int, int]]
  kernel: int
  blocked: Sequence[str] = ()
  deformation_hidden: int = 0

  @nn.compact
  def __call__(self, condition: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    features = nn.Dense(self.encoder_dim, name="encoder")(condition)
    if self.deformation_hidden:  # a GELU layer before the linear deformation (not the paper's)
      features = nn.gelu(nn.Dense(self.deformation_hidden, name="deformation_hidden")(features))
    prototype = nn.Dense(int(np.prod(self.prototype)), name="deformation")(features)
    x = prototype.reshape((condition.shape[0],) + tuple(self.prototype))
    x = HybridDecoder(tuple(tuple(s) for s in self.shapes), self.kernel, tuple(self.blocked),
                      name="decoder")(x)
    return MultiHeadProjection(tuple(self.volume), name="heads")(x)


def weighted_mse(predicted: tuple[jax.Array, ...], target: tuple[jax.Array, ...],
                 weight_mask: jax.Array, bias_mask: jax.Array,
                 layer_weights: jax.Array) -> tuple[jax.Array, dict]:
  """The sensitivity-weighted loss of one batch (paper Sec. 2.5).

  predicted, target: (weights (B, L, R, C), biases (B, L, C), stats (B, L, 4));
  layer_weights (L,): each layer's weight, applied to its weights, bias and statistics. Each
  part is a weighted mean over its real entries: sum_l λ_l · SSE_l / sum_l λ_l · n_l.
  """
  parts = {}
  for name, p, t, mask in (("weights", predicted[0], target[0], weight_mask),
                           ("biases", predicted[1], target[1], bias_mask),
                           ("stats", predicted[2], target[2], jnp.ones(predicted[2].shape[1:],
                                                                       bool))):
    axes = tuple(range(1, mask.ndim))
    count = mask.sum(axes).astype(jnp.float32)                       # (L,)
    sse = jnp.where(mask[None], jnp.square(p - t), 0.0).sum((0,) + tuple(a + 1 for a in axes))
    parts[name] = (layer_weights * sse).sum() / jnp.maximum(
        (layer_weights * count).sum() * p.shape[0], 1.0)
  loss = parts["weights"] + parts["biases"] + parts["stats"]
  return loss, {f"mse_{k}": v for k, v in parts.items()}


class MLPMapping(nn.Module):
  """Condition (B, F) -> standardized weight coordinates (B, P): a linear encoder, GELU
  hidden layers of widths `hidden`, a zero-initialized output layer (training starts at the
  training models' mean)."""
  num_params: int
  encoder_dim: int
  hidden: Sequence[int]

  @nn.compact
  def __call__(self, condition: jax.Array) -> jax.Array:
    x = nn.Dense(self.encoder_dim, name="encoder")(condition)
    for i, width in enumerate(self.hidden):
      x = nn.gelu(nn.Dense(width, name=f"hidden_{i}")(x))
    return nn.Dense(self.num_params, kernel_init=nn.initializers.zeros, name="out")(x)
