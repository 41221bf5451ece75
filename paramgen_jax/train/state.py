"""The train state: a pytree of arrays, nothing else (no functions, no hidden state)."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

PyTree = Any


@flax.struct.dataclass
class TrainState:
  """step: () int32 updates done; params (trained by gradient); model_state (updated by the
  forward pass, e.g. BatchNorm statistics; {} if none); opt_state; ema_params ({} when EMA is
  off)."""
  step: jax.Array
  params: PyTree
  model_state: PyTree
  opt_state: PyTree
  ema_params: PyTree

  @classmethod
  def create(cls, params: PyTree, tx: optax.GradientTransformation, *,
             use_ema: bool = False, model_state: PyTree | None = None) -> "TrainState":
    ema = jax.tree_util.tree_map(jnp.copy, params) if use_ema else {}
    return cls(step=jnp.zeros((), jnp.int32), params=params, model_state=model_state or {},
               opt_state=tx.init(params), ema_params=ema)

  def eval_params(self) -> PyTree:
    """The parameters to sample with: the EMA when it is kept, else the raw ones."""
    return self.ema_params if jax.tree_util.tree_leaves(self.ema_params) else self.params
