"""Token-parallel RPG sampling: the token axis split over every device of a mesh.

    mesh = token_mesh()                        # every device on one 'tokens' axis
    tokens = sample_tokens_sharded(model, params, prototypes, key, schedule, mesh,
                                   mode="partial", chunk=256, steps=60, ...)
    models = core.generate(generator, key, None, 4, mesh=mesh)   # the same, through the codec

RPG's denoiser generates every token independently given its prototype, and token m draws
its noise from fold_in(key, first + m) (`model.sample_tokens`), never from a key split by
device count. So each device samples a contiguous block of tokens with its block's global
offset as `first`: the tokens are those of one device, whatever the number of devices.
Prototypes (the recurrent model over the whole sequence) and the generator's parameters are
replicated; the token axis is padded to a multiple of the device count, and the padding is
dropped again. Within a device, `mode` and `chunk` apply to its block as on one device.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec

from paramgen_jax import diffusion
from paramgen_jax.methods.rpg.model import RPGGenerator, sample_tokens
from paramgen_jax.train.mesh import make_mesh

TOKEN_AXIS = "tokens"


def token_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A one-axis mesh ('tokens') over `devices` (default: all)."""
  return make_mesh({TOKEN_AXIS: -1}, devices)


def sample_tokens_sharded(model: RPGGenerator, params: Any, prototypes: jax.Array,
                          key: jax.Array, schedule: diffusion.Schedule, mesh: Mesh, *,
                          mode: str = "partial", chunk: int = 64, **sampler_kwargs) -> jax.Array:
  """`model.sample_tokens` with the tokens split over all devices of `mesh`.

  Args:
    prototypes: (M, P); device d generates tokens d·B .. d·B + B - 1, B = ceil(M / devices)
      (padded with zero prototypes past M).
    mesh: any mesh; the token axis is split over all of its axes together.
    mode, chunk, sampler_kwargs: as `model.sample_tokens`.

  Returns:
    (M, T) tokens, split over the mesh's devices along M; token m used fold_in(key, m), as
    on one device.
  """
  axes = tuple(mesh.axis_names)
  devices, total = mesh.size, prototypes.shape[0]
  block = -(-total // devices)
  padded = jnp.pad(prototypes, ((0, devices * block - total), (0, 0)))

  def local(protos, params, key):
    return sample_tokens(model, params, protos, key, schedule, mode=mode, chunk=chunk,
                         first=jax.lax.axis_index(axes) * block, **sampler_kwargs)

  sharded = jax.shard_map(local, mesh=mesh,
                          in_specs=(PartitionSpec(axes), PartitionSpec(), PartitionSpec()),
                          out_specs=PartitionSpec(axes))
  return sharded(padded, params, key)[:total]
