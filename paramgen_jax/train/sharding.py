"""FSDP-style shardings of a train state, from one rule: big leaves are split over 'data'.

    abstract = jax.eval_shape(init_state, key)             # pytree of ShapeDtypeStruct
    shardings = state_shardings(abstract, mesh, min_size=2**20)
    step_fn = jit_train_step(..., shardings, ...)           # in and out shardings

A leaf with at least `min_size` elements is split over the mesh's 'data' axis along its
largest dimension divisible by that axis' size (e.g. (8192, 32768) on 8 devices:
P(None, 'data'), a (8192, 4096) block per device); a leaf with no such dimension, or a
smaller one (biases, norms, the step count), is replicated. The rule goes by shape only,
so Adam's mu and nu (the params' shapes) and the EMA are split exactly like the params.
Only the jitted step's in and out shardings change: XLA's partitioner adds the collectives
(a split parameter is gathered where it is used, its gradient reduced onto the shards).

Every config sets `train.fsdp_min_size` to 2**20 elements (4 MiB of float32): every leaf
of the smoke and default generators stays replicated (the largest, the default RPG's Mamba
input projection (256, 1024), has 2**18), so their results are those of plain data
parallelism, bit for bit; the paper-size generators are split (the paper RPG's state to
1/7.98 per device on 8 devices).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from paramgen_jax.train.mesh import DATA_AXIS, data_parallel_size

PyTree = Any
DEFAULT_MIN_SIZE = 2**20


def split_dimension(shape: Sequence[int], axis_size: int, min_size: int) -> int | None:
  """The dimension of a leaf of `shape` to split over `axis_size` devices, or None.

  None when the axis has one device, the leaf has fewer than `min_size` elements, or no
  dimension is divisible by `axis_size`. Of several divisible dimensions the largest is
  split (the first of equal ones), which keeps the blocks contiguous and even.

  Examples (axis_size 8): (3, 16) -> 1; (16, 16) -> 0; (3, 5) -> None; () -> None.
  """
  if axis_size <= 1 or math.prod(shape) < min_size:
    return None
  divisible = [d for d, n in enumerate(shape) if n % axis_size == 0 and n > 0]
  return max(divisible, key=lambda d: (shape[d], -d)) if divisible else None


def leaf_spec(shape: Sequence[int], axis_size: int, min_size: int) -> PartitionSpec:
  """PartitionSpec of one leaf: P() (replicated) or 'data' on the split dimension.

  Example: leaf_spec((4, 24), 8, 0) == P(None, 'data').
  """
  dim = split_dimension(shape, axis_size, min_size)
  if dim is None:
    return PartitionSpec()
  return PartitionSpec(*([None] * dim + [DATA_AXIS]))


def state_shardings(abstract: PyTree, mesh: Mesh,
                    min_size: int = DEFAULT_MIN_SIZE) -> PyTree:
  """A NamedSharding on `mesh` for every leaf of `abstract` (same tree structure).

  Args:
    abstract: the state's leaves as ShapeDtypeStructs (or arrays), e.g. from
      `jax.eval_shape`.
    mesh: the training mesh; leaves are split over its 'data' axis only (replicated over
      any other axis, and everywhere when it has no 'data' axis).
    min_size: number of elements from which a leaf is split; 0 splits every leaf that
      has a dimension divisible by the 'data' axis' size.
  """
  size = data_parallel_size(mesh) if DATA_AXIS in mesh.axis_names else 1
  return jax.tree_util.tree_map(
      lambda x: NamedSharding(mesh, leaf_spec(x.shape, size, min_size)), abstract)


def bytes_per_device(abstract: PyTree, shardings: PyTree | None = None) -> int:
  """Bytes of `abstract` that one device holds under `shardings` (None: replicated).

  Each leaf counts its shard's shape (`sharding.shard_shape`) times its item size; the
  rule above splits evenly, so every device holds the same.
  """
  leaves = jax.tree_util.tree_leaves(abstract)
  if shardings is None:
    shapes = [x.shape for x in leaves]
  else:
    shapes = [s.shard_shape(x.shape) for x, s in zip(
        leaves, jax.tree_util.tree_leaves(shardings), strict=True)]
  return sum(math.prod(shape) * x.dtype.itemsize for x, shape in zip(leaves, shapes))
