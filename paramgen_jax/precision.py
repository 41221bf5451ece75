"""Compute precision: bfloat16 arithmetic over float32 storage, in training and generation.

Like the official code's bfloat16 autocast: parameters are cast to the compute dtype, every
dense, convolution and einsum layer gets its inputs in it (`autocast`, so a float32 embedding
added on the way does not turn the rest of the network back to float32), the network's
outputs come back as float32, and everything that accumulates (optimizer state, master
parameters, a sampler's x_t and its updates) stays float32. Configs choose it with
`train.compute_dtype` and `sample.compute_dtype` (`generate.compute_dtype` for the mapping),
each 'float32' or 'bfloat16'.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp

PyTree = Any
COMPUTE_DTYPES = ("float32", "bfloat16")
# The layers whose inputs autocast casts: where the multiply-adds are.
CAST_LAYERS = (nn.Dense, nn.DenseGeneral, nn.Conv, nn.ConvTranspose, nn.Einsum)


def cast_floating(tree: PyTree, dtype: Any) -> PyTree:
  """Casts the floating leaves of `tree` to `dtype` (integers, keys and None are left alone)."""
  def cast(x):
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return x
    return x.astype(dtype) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x
  return jax.tree_util.tree_map(cast, tree)


def generating_in(generator: Any, dtype: str) -> Any:
  """Any method's generator (a struct dataclass with a frozen `config`) generating with
  `dtype` compute: its config's `sample.compute_dtype` (the mapping's
  `generate.compute_dtype`) set to `dtype`."""
  import copy

  import ml_collections

  if dtype not in COMPUTE_DTYPES:
    raise ValueError(f"compute dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {dtype!r}")
  config = copy.deepcopy(generator.config.as_configdict())
  section = "sample" if "sample" in config else "generate"
  if section not in config:
    config[section] = {}
  config[section]["compute_dtype"] = dtype
  return generator.replace(config=ml_collections.FrozenConfigDict(config))


def section_dtype(section: Any) -> str:
  """The compute dtype a `sample` / `generate` section asks for; 'float32' where the key is
  absent (generators saved before the key existed)."""
  return section.get("compute_dtype", "float32") if section is not None else "float32"


@contextlib.contextmanager
def autocast(dtype: Any) -> Iterator[None]:
  """While tracing inside it, every dense / convolution / einsum layer (`CAST_LAYERS`) casts
  its floating inputs to `dtype`; nothing changes for float32."""
  dtype = jnp.dtype(dtype)
  if dtype == jnp.float32:
    yield
    return

  def cast_inputs(next_fun, args, kwargs, context):
    if context.method_name == "__call__" and isinstance(context.module, CAST_LAYERS):
      args, kwargs = cast_floating(args, dtype), cast_floating(kwargs, dtype)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(cast_inputs):
    yield
