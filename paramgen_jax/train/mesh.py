"""Device meshes and batch placement from the config (data parallel over the 'data' axis).

How the train state is split over the mesh: `paramgen_jax.train.sharding`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from paramgen_jax.configlib import resolve_mesh_axes

DATA_AXIS = "data"


def make_mesh(axes: Mapping[str, int] | None = None,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A mesh over `devices` (default: all) with named axes, e.g. {'data': -1}."""
  devices = list(jax.devices() if devices is None else devices)
  sizes = resolve_mesh_axes(axes or {DATA_AXIS: -1}, len(devices))
  return Mesh(np.asarray(devices, dtype=object).reshape(tuple(sizes.values())),
              tuple(sizes.keys()))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over 'data' when the mesh has it, else replicated."""
  if DATA_AXIS in mesh.axis_names:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))
  return replicated(mesh)


def data_parallel_size(mesh: Mesh) -> int:
  return int(mesh.shape.get(DATA_AXIS, 1))


def put_batch(batch: Any, mesh: Mesh) -> Any:
  """Places a host batch (leading axis = examples) on the mesh, split over 'data'.

  Every process passes the whole batch (`batch_fn` is a pure function of the step, so all
  compute the same one) and fills only the shards of its own devices: the same call works
  in one process and on a multi-host mesh, where `device_put` of a host array cannot
  reach the other hosts' devices.
  """
  sharding = batch_sharding(mesh)

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
  return jax.tree_util.tree_map(put, batch)
