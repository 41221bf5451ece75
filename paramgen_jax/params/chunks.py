"""D2NWG's vectorizations: model-wise (one zero-padded vector) and layer-wise chunks.

Model-wise: every model is flattened and zero-padded to a common length d_max, so zoos
of several architectures share one input size (`flat.flatten_padded(..., length=d_max)`).

Layer-wise: each layer is zero-padded to a multiple of the chunk size and split into
chunks; the chunks are encoded independently and concatenated back per layer. A chunk's
global index is the class label of D2NWG's chunk-conditioned diffusion, and the chunks of
one layer form that layer's cluster at sampling time. These are the 'layer' tokens of
`tokens.py` with `token_size = chunk_size`, plus the per-layer bookkeeping D2NWG needs.
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from paramgen_jax.params import tokens
from paramgen_jax.params.layout import ParamLayout, PyTree


def model_wise_length(layouts: Sequence[ParamLayout], multiple: int = 1) -> int:
  """d_max over several architectures, rounded up to `multiple`."""
  d_max = max(layout.num_params for layout in layouts)
  return -(-d_max // multiple) * multiple


def layer_chunk_plan(layout: ParamLayout, chunk_size: int) -> tokens.TokenLayout:
  """The chunk plan: chunk i holds `index[i]`, belongs to layer `layer_index[i]`."""
  return tokens.make_token_layout(layout, chunk_size, granularity="layer")


def layer_chunk_ranges(plan: tokens.TokenLayout) -> list[tuple[int, int]]:
  """[start, stop) chunk indices of every layer, in layer order (the clusters)."""
  if plan.granularity != "layer":
    raise ValueError("chunk ranges need a 'layer' plan; got granularity "
                     f"{plan.granularity!r}")
  starts = np.searchsorted(plan.layer_index, np.arange(plan.num_layers), side="left")
  stops = np.searchsorted(plan.layer_index, np.arange(plan.num_layers), side="right")
  return [(int(a), int(b)) for a, b in zip(starts, stops)]


def to_chunks(tree: PyTree, layout: ParamLayout, plan: tokens.TokenLayout) -> jax.Array:
  """Pytree -> (num_chunks, chunk_size), zero-padded per layer."""
  return tokens.tree_to_tokens(tree, layout, plan)


def from_chunks(chunks: jax.Array, layout: ParamLayout, plan: tokens.TokenLayout) -> PyTree:
  """Inverse of `to_chunks`: the chunks of each layer are concatenated and unpadded."""
  return tokens.tokens_to_tree(chunks, layout, plan)
