"""Set Transformer blocks (Lee et al. 2019) and D2NWG's two-level dataset encoder.

    MAB(dim, heads)(x (N, d), y (M, d), y_mask (M,)) -> (N, dim)   x attends to y
    ISAB(dim, heads, num_inducing)(x (N, d), mask (N,)) -> (N, dim)
    PMA(dim, heads, num_seeds)(x (N, d), mask (N,)) -> (num_seeds, dim)
    SetEncoder(...)(x (N, d), mask (N,)) -> (out_dim,)
    DatasetEncoder(...)(features (C, K, d), mask (C, K)) -> (out_dim,)

Written for one set (leading batch axes broadcast too: a (C, K, d) input is C sets). Masked elements (padding) never act as keys, so a
set padded to a fixed size encodes as the set itself. Nothing in a block depends on where an
element sits, so the encoders are invariant to the order of the elements, and, because
every pooling step is an attention average, to repeating the whole set (a set and the same
set twice give one encoding): what a support set of images encodes is the distribution of
its classes, not its size. `DatasetEncoder` encodes each class's images (ISAB + PMA), then
the set of class summaries (ISAB + PMA), as D2NWG's Figure 5.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class MAB(nn.Module):
  """Multihead attention block: H = LN(x + Attn(x, y)); LN(H + rFF(H))."""
  dim: int
  heads: int = 2

  @nn.compact
  def __call__(self, x: jax.Array, y: jax.Array, y_mask: jax.Array | None = None) -> jax.Array:
    q = nn.Dense(self.dim, name="query")(x)
    mask = None if y_mask is None else jnp.broadcast_to(
        y_mask[..., None, None, :], y_mask.shape[:-1] + (self.heads, x.shape[-2], y.shape[-2]))
    attended = nn.MultiHeadDotProductAttention(
        num_heads=self.heads, qkv_features=self.dim, out_features=self.dim, name="attention")(
            q, y, mask=mask)
    h = nn.LayerNorm(name="norm_attention")(q + attended)
    ff = nn.Dense(self.dim, name="ff_out")(nn.relu(nn.Dense(self.dim, name="ff_in")(h)))
    return nn.LayerNorm(name="norm_ff")(h + ff)


def _learned_queries(module: nn.Module, name: str, count: int, x: jax.Array) -> jax.Array:
  """`count` learned (count, module.dim) vectors, broadcast over x's batch axes."""
  table = module.param(name, nn.initializers.xavier_uniform(), (count, module.dim))
  return jnp.broadcast_to(table, x.shape[:-2] + table.shape)


class ISAB(nn.Module):
  """Induced set attention: m learned points attend to the set, the set attends back."""
  dim: int
  heads: int = 2
  num_inducing: int = 16

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    inducing = _learned_queries(self, "inducing", self.num_inducing, x)
    h = MAB(self.dim, self.heads, name="to_inducing")(inducing, x, mask)
    return MAB(self.dim, self.heads, name="from_inducing")(x, h)


class PMA(nn.Module):
  """Pooling by multihead attention: k learned seeds attend to rFF(set)."""
  dim: int
  heads: int = 2
  num_seeds: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    seeds = _learned_queries(self, "seeds", self.num_seeds, x)
    return MAB(self.dim, self.heads, name="pool")(seeds, nn.relu(nn.Dense(self.dim)(x)), mask)


class SetEncoder(nn.Module):
  """`depth` ISABs, then PMA to one seed, then a Dense: (..., N, d), mask (..., N) ->
  (..., out_dim)."""
  dim: int = 128
  out_dim: int = 128
  heads: int = 2
  num_inducing: int = 16
  depth: int = 2

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    h = nn.Dense(self.dim, name="embed")(x)
    for i in range(self.depth):
      h = ISAB(self.dim, self.heads, self.num_inducing, name=f"isab{i}")(h, mask)
    pooled = PMA(self.dim, self.heads, 1, name="pma")(h, mask)[..., 0, :]
    return nn.Dense(self.out_dim, name="out")(pooled)


class DatasetEncoder(nn.Module):
  """Two-level Set Transformer over a labelled image set.

  features (C, K, d): K image features of each of C classes; mask (C, K) marks real images
  (a class with no real image is padding). -> (out_dim,)
  """
  dim: int = 128
  out_dim: int = 128
  heads: int = 2
  num_inducing: int = 16
  depth: int = 2

  @nn.compact
  def __call__(self, features: jax.Array, mask: jax.Array) -> jax.Array:
    intra = SetEncoder(self.dim, self.dim, self.heads, self.num_inducing, self.depth,
                       name="within_class")
    summaries = intra(features, mask)  # (C, dim): the classes are a batch of sets
    return SetEncoder(self.dim, self.out_dim, self.heads, self.num_inducing, self.depth,
                      name="across_classes")(summaries, mask.any(axis=1))


class MLPDatasetEncoder(nn.Module):
  """D2NWG's MLP alternative (App. C.5): not a set function (order and size matter).

  features (C, K, d) are cut or zero-padded to (max_classes, max_shots, d), read as d rows of
  max_classes * max_shots values, mapped to `hidden` per row, flattened, then to out_dim.
  """
  max_classes: int
  max_shots: int
  hidden: int = 8
  out_dim: int = 128

  @nn.compact
  def __call__(self, features: jax.Array, mask: jax.Array) -> jax.Array:
    x = features * mask[..., None].astype(features.dtype)
    c, k = min(x.shape[0], self.max_classes), min(x.shape[1], self.max_shots)
    x = jnp.pad(x[:c, :k], ((0, self.max_classes - c), (0, self.max_shots - k), (0, 0)))
    rows = x.reshape(-1, x.shape[-1]).T  # (d, max_classes * max_shots)
    h = nn.gelu(nn.Dense(self.hidden, name="per_feature")(rows))
    return nn.Dense(self.out_dim, name="out")(h.reshape(-1))
