"""One flat, zero-padded vector per model (p-diff; D2NWG's model-wise vectorization).

    flat = flatten_padded(params, layout, multiple=64)   # (ceil(P / 64) * 64,)
    params_again = unflatten_padded(flat, layout)

`length=` pads to a fixed size instead, so that models of several architectures share
one vector length (D2NWG zero-pads every model to the largest parameter count).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from paramgen_jax.params.layout import ParamLayout, PyTree


def padded_length(num_params: int, *, multiple: int = 1, length: int | None = None) -> int:
  """Length of the padded vector: `length` if given, else the next multiple of `multiple`."""
  if multiple < 1:
    raise ValueError(f"multiple must be >= 1, got {multiple}")
  if length is not None:
    if length < num_params:
      raise ValueError(f"length {length} is shorter than the {num_params} parameters")
    return length
  return -(-num_params // multiple) * multiple


def pad_vector(vector: jax.Array, *, multiple: int = 1, length: int | None = None) -> jax.Array:
  """(P,) -> (L,) with zeros appended, L from `padded_length`."""
  target = padded_length(vector.shape[0], multiple=multiple, length=length)
  return jnp.pad(vector, (0, target - vector.shape[0]))


def flatten_padded(tree: PyTree, layout: ParamLayout, *, multiple: int = 1,
                   length: int | None = None) -> jax.Array:
  """Pytree -> (L,) parameter vector padded with zeros (see `padded_length`)."""
  return pad_vector(layout.to_vector(tree), multiple=multiple, length=length)


def unflatten_padded(flat: jax.Array, layout: ParamLayout) -> PyTree:
  """Inverse of `flatten_padded`: the padding is dropped."""
  if flat.shape[0] < layout.num_params:
    raise ValueError(f"vector of length {flat.shape[0]} is shorter than the layout's "
                     f"{layout.num_params} parameters")
  return layout.from_vector(flat[:layout.num_params])


def padding_mask(layout: ParamLayout, *, multiple: int = 1,
                 length: int | None = None) -> jax.Array:
  """(L,) bool: True on real parameters, False on padding."""
  target = padded_length(layout.num_params, multiple=multiple, length=length)
  return jnp.arange(target) < layout.num_params
