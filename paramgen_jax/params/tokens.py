"""Fixed-size tokens over a parameter vector, with an explicit mask (RPG).

A `TokenLayout` is a static gather plan computed once in NumPy: `index[i, j]` is the
position in the parameter vector of entry j of token i, or -1 on padding. Tokenizing
is one gather and detokenizing the inverse gather, so the round trip is bit-exact and
padding is an explicit boolean `mask` (the official code pads with NaN instead).

Granularities (RPG's `granularity` 1, 0 and 2):
  * 'layer':   each layer is sliced separately; its last token is padded (default).
  * 'model':   the whole vector is sliced; tokens may straddle layers.
  * 'channel': each leaf is cut along its output axis (the last axis of Flax kernels)
               and whole output rows are packed per token; a row longer than a token
               spans several tokens.

Every token carries its layer index and its index within the layer, the two
coordinates of RPG's 2-D position embedding.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax.params.layout import ParamLayout, PyTree

Granularity = Literal["layer", "model", "channel"]


@dataclasses.dataclass(frozen=True, eq=False)
class TokenLayout:
  """Static gather plan from a parameter vector to tokens.

  Attributes:
    index: (num_tokens, token_size) int32 positions in the vector, -1 on padding.
    mask: (num_tokens, token_size) bool, True on real parameters.
    layer_index: (num_tokens,) int32 layer of each token (its first entry's layer).
    token_in_layer: (num_tokens,) int32 position of each token within its layer.
    inverse: (num_params,) int32 position of each parameter in the flattened tokens.
    token_size: entries per token.
    granularity: how the tokens were cut.
    num_layers: number of layers in the parameter layout.
  """
  index: np.ndarray
  mask: np.ndarray
  layer_index: np.ndarray
  token_in_layer: np.ndarray
  inverse: np.ndarray
  token_size: int
  granularity: str
  num_layers: int

  @property
  def num_tokens(self) -> int:
    return self.index.shape[0]

  @property
  def max_tokens_per_layer(self) -> int:
    return int(self.token_in_layer.max()) + 1 if self.num_tokens else 0


def _pack(pieces: list[np.ndarray], token_size: int) -> np.ndarray:
  """Concatenates index pieces, each padded with -1 to whole tokens: -> (n, token_size)."""
  rows = []
  for piece in pieces:
    n = -(-piece.size // token_size)
    padded = np.full(n * token_size, -1, np.int64)
    padded[:piece.size] = piece
    rows.append(padded.reshape(n, token_size))
  return np.concatenate(rows) if rows else np.zeros((0, token_size), np.int64)


def _channel_pieces(layout: ParamLayout, token_size: int) -> tuple[list, list]:
  """Per leaf, the vector positions of its output rows, packed into token-sized pieces."""
  pieces, layers = [], []
  for spec in layout.generated_leaves:
    if spec.size == 0:
      continue
    positions = spec.offset + np.arange(spec.size, dtype=np.int64).reshape(spec.shape or (1,))
    rows = np.moveaxis(positions, -1, 0).reshape(positions.shape[-1], -1)  # (out, row_len)
    row_len = rows.shape[1]
    if row_len <= token_size:
      per_token = token_size // row_len
      for start in range(0, rows.shape[0], per_token):
        pieces.append(rows[start:start + per_token].ravel())
        layers.append(spec.group)
    else:
      for row in rows:
        for start in range(0, row_len, token_size):
          pieces.append(row[start:start + token_size])
          layers.append(spec.group)
  return pieces, layers


def make_token_layout(layout: ParamLayout, token_size: int,
                      granularity: Granularity = "layer") -> TokenLayout:
  """Plans the tokens of `layout` (see module docstring)."""
  if token_size < 1:
    raise ValueError(f"token_size must be >= 1, got {token_size}")
  positions = np.arange(layout.num_params, dtype=np.int64)
  if granularity == "layer":
    pieces = [positions[layout.element_group == g] for g in range(len(layout.groups))]
    index = _pack(pieces, token_size)
    counts = [-(-p.size // token_size) for p in pieces]
    layer_index = np.repeat(np.arange(len(pieces)), counts)
  elif granularity == "model":
    index = _pack([positions], token_size)
    first = index[:, 0]
    layer_index = layout.element_group[first] if first.size else np.zeros(0, np.int64)
  elif granularity == "channel":
    pieces, layers = _channel_pieces(layout, token_size)
    index = np.concatenate([_pack([p], token_size) for p in pieces]) if pieces else (
        np.zeros((0, token_size), np.int64))
    layer_index = np.asarray(layers, np.int64)
  else:
    raise ValueError(f"granularity must be 'layer', 'model' or 'channel', got {granularity!r}")

  if granularity == "model":
    token_in_layer = np.arange(index.shape[0])
  else:
    token_in_layer = np.zeros(index.shape[0], np.int64)
    for layer in np.unique(layer_index):
      where = layer_index == layer
      token_in_layer[where] = np.arange(where.sum())
  mask = index >= 0
  inverse = np.zeros(layout.num_params, np.int64)
  inverse[index[mask]] = np.nonzero(mask.ravel())[0]
  if layout.num_params and not np.array_equal(np.sort(index[mask]), positions):
    raise AssertionError("token plan does not cover every parameter exactly once")
  as32 = lambda a: np.asarray(a, np.int32)
  return TokenLayout(as32(index), mask, as32(layer_index), as32(token_in_layer),
                     as32(inverse), token_size, granularity, len(layout.groups))


def tokenize(vector: jax.Array, plan: TokenLayout) -> jax.Array:
  """(num_params,) -> (num_tokens, token_size), zeros on padding."""
  # Index -1 reads the appended zero, so padding needs no `where`.
  return jnp.concatenate([vector, jnp.zeros((1,), vector.dtype)])[plan.index]


def detokenize(tokens: jax.Array, plan: TokenLayout) -> jax.Array:
  """Inverse of `tokenize`: (num_tokens, token_size) -> (num_params,)."""
  expected = (plan.num_tokens, plan.token_size)
  if tokens.shape != expected:
    raise ValueError(f"expected tokens of shape {expected}, got {tokens.shape}")
  return tokens.reshape(-1)[plan.inverse]


def tree_to_tokens(tree: PyTree, layout: ParamLayout, plan: TokenLayout) -> jax.Array:
  """Pytree -> (num_tokens, token_size)."""
  return tokenize(layout.to_vector(tree), plan)


def tokens_to_tree(tokens: jax.Array, layout: ParamLayout, plan: TokenLayout) -> PyTree:
  """(num_tokens, token_size) -> pytree."""
  return layout.from_vector(detokenize(tokens, plan))
