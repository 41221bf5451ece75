"""Structure-aware arrangement (data-conditioned mapping paper, Sec. 2.3): every layer as its
weight matrix in natural shape, its bias, and its statistics, stacked into one volume.

A layer is a module's weight leaf (a Dense kernel (in, out), a conv kernel (kh, kw, in, out)
reshaped to (kh·kw·in, out), a norm scale (n,) as (1, n)) with the module's 1-D `bias` when its
length equals the matrix's columns. Leaves that fit no pair are layers of their own.

    arr = Arrangement.from_template(params)            # static, computed once in NumPy
    weights, biases = arr.arrange(params)              # (L, R, C), (L, C); zero padding
    params_again = arr.restore(weights, biases)        # bit-identical leaves
    w_hat, b_hat, stats = arr.normalize(weights, biases)   # per layer; stats (L, 4)
    weights, biases = arr.denormalize(w_hat, b_hat, stats)  # exact up to float32 rounding

`arr.weight_mask` (L, R, C) and `arr.bias_mask` (L, C) mark the real entries. `kind=
'sequential'` is the paper's ablation: each layer's weights flattened and written row by row
into the same (R, C) slab instead of in their natural shape.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax.params.layout import LeafSpec, ParamLayout

PyTree = Any
ARRANGEMENTS = ("structure", "sequential")
STATS_FIELDS = ("mean_w", "std_w", "mean_b", "std_b")
# A layer whose entries are (nearly) all equal is left unscaled instead of blown up.
MIN_STD = 1e-8


@dataclasses.dataclass(frozen=True)
class LayerSlot:
  """One layer of the volume: the generated leaves it holds and its natural matrix shape.

  weight: index into `ParamLayout.generated_leaves`; bias: the same, or -1 for none.
  rows, cols: the weight's matrix shape; the bias has `cols` entries.
  """
  name: str
  weight: int
  bias: int
  rows: int
  cols: int


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
  """A leaf's natural matrix: () -> (1, 1); (n,) -> (1, n); (..., n) -> (prod(...), n)."""
  if len(shape) == 0:
    return 1, 1
  if len(shape) == 1:
    return 1, shape[0]
  return int(np.prod(shape[:-1], dtype=np.int64)), shape[-1]


def _pair_group(members: list[tuple[int, LeafSpec]]) -> list[tuple[int, int]]:
  """(weight, bias) leaf index pairs of one module's leaves, bias -1 when none: the leaf of
  most dimensions is the weight; a 1-D 'bias' as long as its columns is its bias."""
  bias = next((i for i, s in members if s.path.rsplit("/", 1)[-1] == "bias"
               and len(s.shape) == 1), -1)
  others = [(i, s) for i, s in members if i != bias]
  if not others:
    return [(bias, -1)]
  weight, spec = max(others, key=lambda item: len(item[1].shape))
  bias_len = next((s.shape[0] for i, s in members if i == bias), -1)
  fits = bias >= 0 and matrix_shape(spec.shape)[1] == bias_len
  pairs = [(weight, bias if fits else -1)] + ([] if fits or bias < 0 else [(bias, -1)])
  return pairs + [(i, -1) for i, _ in others if i != weight]


class Arrangement:
  """Static description of a pytree as a stacked layer volume (see module docstring).

  Attributes:
    layout: the `ParamLayout` (module-grouped) of the template.
    slots: one `LayerSlot` per layer, in the template's order.
    rows, cols: the volume's padded matrix shape (the largest layer's).
    kind: 'structure' (natural shape) or 'sequential' (row-major fill).
    weight_mask: (L, rows, cols) bool; bias_mask: (L, cols) bool.
  """

  def __init__(self, layout: ParamLayout, slots: list[LayerSlot], kind: str):
    if kind not in ARRANGEMENTS:
      raise ValueError(f"arrangement kind must be one of {ARRANGEMENTS}, got {kind!r}")
    self.layout, self.slots, self.kind = layout, tuple(slots), kind
    self.rows = max([s.rows for s in slots] + [1])
    self.cols = max([s.cols for s in slots] + [1])
    self.weight_mask = np.stack([self._place_np(np.ones((s.rows, s.cols), bool), s)
                                 for s in slots]) if slots else np.zeros((0, 1, 1), bool)
    self.bias_mask = np.stack([np.arange(self.cols) < (s.cols if s.bias >= 0 else 0)
                               for s in slots]) if slots else np.zeros((0, 1), bool)

  @classmethod
  def from_template(cls, template: PyTree, *, kind: Literal["structure", "sequential"] =
                    "structure", keep_constant: tuple[str, ...] = ()) -> "Arrangement":
    """The arrangement of `template` (arrays or ShapeDtypeStructs; constants need values)."""
    layout = ParamLayout.from_template(template, keep_constant=keep_constant,
                                       log_transform=(), group_by="module")
    generated = layout.generated_leaves
    groups: dict[int, list[tuple[int, LeafSpec]]] = {}
    for i, spec in enumerate(generated):
      groups.setdefault(spec.group, []).append((i, spec))
    slots = []
    for g in sorted(groups):
      for weight, bias in _pair_group(groups[g]):
        rows, cols = matrix_shape(generated[weight].shape)
        slots.append(LayerSlot(generated[weight].path, weight, bias, rows, cols))
    return cls(layout, slots, kind)

  @property
  def num_layers(self) -> int:
    return len(self.slots)

  @property
  def volume_shape(self) -> tuple[int, int, int]:
    return self.num_layers, self.rows, self.cols

  # -- placement of one layer's matrix in its (rows, cols) slab -------------------------

  def _place_np(self, matrix: np.ndarray, slot: LayerSlot) -> np.ndarray:
    out = np.zeros((self.rows, self.cols), matrix.dtype)
    if self.kind == "structure":
      out[:slot.rows, :slot.cols] = matrix
    else:
      out.reshape(-1)[:matrix.size] = matrix.reshape(-1)
    return out

  def _place(self, matrix: jax.Array, slot: LayerSlot) -> jax.Array:
    if self.kind == "structure":
      return jnp.pad(matrix, ((0, self.rows - slot.rows), (0, self.cols - slot.cols)))
    flat = jnp.pad(matrix.reshape(-1), (0, self.rows * self.cols - matrix.size))
    return flat.reshape(self.rows, self.cols)

  def _take(self, slab: jax.Array, slot: LayerSlot) -> jax.Array:
    if self.kind == "structure":
      return slab[:slot.rows, :slot.cols]
    return slab.reshape(-1)[:slot.rows * slot.cols].reshape(slot.rows, slot.cols)

  # -- transforms (pure, jittable; one model — vmap for a batch) ------------------------

  def arrange(self, params: PyTree) -> tuple[jax.Array, jax.Array]:
    """pytree -> (weights (L, rows, cols), biases (L, cols)) of the layout's dtype, zeros
    where the masks are False."""
    leaves = [jnp.asarray(leaf) for spec, leaf in zip(
        self.layout.leaves, self.layout._check_structure(params)) if spec.generated]
    dtype = self.layout.dtype
    weights, biases = [], []
    for slot in self.slots:
      w = leaves[slot.weight].astype(dtype).reshape(slot.rows, slot.cols)
      weights.append(self._place(w, slot))
      b = (leaves[slot.bias].astype(dtype) if slot.bias >= 0 else jnp.zeros((0,), dtype))
      biases.append(jnp.pad(b, (0, self.cols - b.shape[0])))
    if not self.slots:
      return jnp.zeros((0, 1, 1), dtype), jnp.zeros((0, 1), dtype)
    return jnp.stack(weights), jnp.stack(biases)

  def restore(self, weights: jax.Array, biases: jax.Array) -> PyTree:
    """Inverse of `arrange` (bit-exact): volume -> pytree, constants from the template."""
    expected = (self.num_layers, self.rows, self.cols)
    if weights.shape != expected or biases.shape != expected[::2]:
      raise ValueError(f"expected weights {expected} and biases {expected[::2]}, got "
                       f"{weights.shape} and {biases.shape}")
    generated = self.layout.generated_leaves
    pieces: list[jax.Array | None] = [None] * len(generated)
    for l, slot in enumerate(self.slots):
      pieces[slot.weight] = self._take(weights[l], slot).reshape(-1)
      if slot.bias >= 0:
        pieces[slot.bias] = biases[l, :slot.cols]
    vector = (jnp.concatenate([p.astype(self.layout.dtype) for p in pieces]) if pieces
              else jnp.zeros((0,), self.layout.dtype))
    return self.layout.from_vector(vector)

  def normalize(self, weights: jax.Array, biases: jax.Array
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per-layer z-scores of one model: (ŵ (L, R, C), b̂ (L, C), stats (L, 4)) with stats
    [mean_w, std_w, mean_b, std_b] (std 1 where a part is constant or empty)."""
    w_mask, b_mask = jnp.asarray(self.weight_mask), jnp.asarray(self.bias_mask)
    mean_w, std_w = _masked_moments(weights.astype(jnp.float32), w_mask, axes=(1, 2))
    mean_b, std_b = _masked_moments(biases.astype(jnp.float32), b_mask, axes=(1,))
    w_hat = jnp.where(w_mask, (weights - mean_w[:, None, None]) / std_w[:, None, None], 0.0)
    b_hat = jnp.where(b_mask, (biases - mean_b[:, None]) / std_b[:, None], 0.0)
    return w_hat, b_hat, jnp.stack([mean_w, std_w, mean_b, std_b], axis=-1)

  def denormalize(self, w_hat: jax.Array, b_hat: jax.Array, stats: jax.Array
                  ) -> tuple[jax.Array, jax.Array]:
    """Inverse of `normalize`: (weights, biases), zero outside the masks."""
    mean_w, std_w, mean_b, std_b = (stats[:, i] for i in range(4))
    weights = jnp.where(self.weight_mask, w_hat * std_w[:, None, None] + mean_w[:, None, None],
                        0.0)
    biases = jnp.where(self.bias_mask, b_hat * std_b[:, None] + mean_b[:, None], 0.0)
    return weights, biases

  def summary(self) -> str:
    lines = [f"{'layer':<48} {'matrix':>12} {'bias':>6}"]
    for s in self.slots:
      lines.append(f"{s.name:<48} {f'{s.rows}x{s.cols}':>12} {s.cols if s.bias >= 0 else 0:>6}")
    filled = int(self.weight_mask.sum() + self.bias_mask.sum())
    lines.append(f"{self.num_layers} layers in a {self.volume_shape} volume ({self.kind}); "
                 f"{filled:,} of {self.weight_mask.size + self.bias_mask.size:,} entries real")
    return "\n".join(lines)


def _masked_moments(x: jax.Array, mask: jax.Array, axes: tuple[int, ...]
                    ) -> tuple[jax.Array, jax.Array]:
  count = jnp.maximum(mask.sum(axes), 1)
  mean = jnp.where(mask, x, 0.0).sum(axes) / count
  centred = x - jnp.expand_dims(mean, axes)
  std = jnp.sqrt(jnp.where(mask, centred * centred, 0.0).sum(axes) / count)
  return mean, jnp.where(std < MIN_STD, 1.0, std)


def layer_sensitivity(arrangement: Arrangement, weights: np.ndarray, biases: np.ndarray
                      ) -> np.ndarray:
  """(L,) importance of each layer (paper Sec. 2.5): every parameter's std across the N
  models, normalized by the mean std over the network, averaged within each layer.

  weights: (N, L, R, C), biases: (N, L, C) — raw `arrange` outputs of the zoo.
  """
  w_std = np.asarray(weights, np.float64).std(axis=0)
  b_std = np.asarray(biases, np.float64).std(axis=0)
  wm, bm = arrangement.weight_mask, arrangement.bias_mask
  total = w_std[wm].sum() + b_std[bm].sum()
  count = wm.sum() + bm.sum()
  scale = total / count if total > 0 else 1.0
  per_layer = ((w_std * wm).sum((1, 2)) + (b_std * bm).sum(1)) / np.maximum(
      wm.sum((1, 2)) + bm.sum(1), 1)
  return (per_layer / scale).astype(np.float32)
