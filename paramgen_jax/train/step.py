"""The pure train step and its jitted, sharded, state-donating form.

    step_fn = make_train_step(loss_fn, tx, ema_decay=0.999, compute_dtype="bfloat16")
    jitted = jit_train_step(step_fn, state_sharding, batch_sharding, replicated)
    state, metrics = jitted(state, batch, base_key)

`loss_fn(params, batch, rng) -> (loss, metrics)`, or with `stateful=True` (models with
BatchNorm statistics) `loss_fn(params, model_state, batch, rng) -> (loss, (metrics,
new_model_state))`. The step folds the step count into the base key, so no key is carried
in the state and a resumed run draws the same randomness.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from paramgen_jax.precision import autocast, cast_floating
from paramgen_jax.train.state import PyTree, TrainState

LossFn = Callable[..., tuple[jax.Array, Any]]


def make_train_step(loss_fn: LossFn, tx: optax.GradientTransformation, *,
                    ema_decay: float = 0.0, compute_dtype: Any = jnp.float32,
                    learning_rate: Callable[[jax.Array], jax.Array] | None = None,
                    stateful: bool = False, metrics_every: int = 1):
  """Builds `train_step(state, batch, rng) -> (state, metrics)`.

  Args:
    loss_fn: `(params, batch, rng) -> (scalar loss, dict of scalar metrics)`; with
      `stateful`, `(params, model_state, batch, rng) -> (loss, (metrics, new_model_state))`.
    tx: the optimizer.
    ema_decay: > 0 keeps an exponential moving average of the parameters.
    compute_dtype: dtype of the parameters, the batch and every dense / convolution
      layer's inputs inside `loss_fn` (`precision.autocast`; float32 master weights are
      kept; 'bfloat16' gives mixed precision).
    learning_rate: optional schedule, logged as metrics['lr'].
    stateful: whether `loss_fn` takes and returns the model state.
    metrics_every: the gradient and parameter norms (two more passes over every parameter)
      are computed only on steps whose count after the step is a multiple of this (the
      steps the loop logs); other steps report them as NaN.
  """
  compute_dtype = jnp.dtype(compute_dtype)

  def train_step(state: TrainState, batch: PyTree, rng: jax.Array):
    rng = jax.random.fold_in(rng, state.step)

    def objective(params):
      params, batch_ = cast_floating(params, compute_dtype), cast_floating(batch, compute_dtype)
      with autocast(compute_dtype):
        if stateful:
          loss, (metrics, model_state) = loss_fn(params, state.model_state, batch_, rng)
        else:
          (loss, metrics), model_state = loss_fn(params, batch_, rng), state.model_state
      return loss.astype(jnp.float32), (metrics, model_state)

    (loss, (metrics, model_state)), grads = jax.value_and_grad(objective, has_aux=True)(
        state.params)
    model_state = jax.tree_util.tree_map(lambda new, old: new.astype(old.dtype), model_state,
                                         state.model_state)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = state.ema_params
    if ema_decay > 0:
      ema = jax.tree_util.tree_map(lambda e, p: ema_decay * e + (1 - ema_decay) * p, ema, params)
    metrics = {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
    metrics.update(loss=loss, **_norms(grads, params, (state.step + 1) % metrics_every == 0))
    if learning_rate is not None:
      metrics["lr"] = jnp.asarray(learning_rate(state.step), jnp.float32)
    new_state = state.replace(step=state.step + 1, params=params, model_state=model_state,
                              opt_state=opt_state, ema_params=ema)
    return new_state, metrics

  return train_step


def _norms(grads: PyTree, params: PyTree, wanted: jax.Array) -> dict:
  """{'grad_norm', 'param_norm'}: global L2 norms when `wanted`, else NaN (not computed)."""
  def compute(trees):
    return tuple(optax.tree.norm(t).astype(jnp.float32) for t in trees)

  skipped = lambda trees: (jnp.float32(jnp.nan),) * 2
  grad_norm, param_norm = jax.lax.cond(wanted, compute, skipped, (grads, params))
  return {"grad_norm": grad_norm, "param_norm": param_norm}


def jit_train_step(train_step, state_sharding: PyTree, batch_sharding: PyTree,
                   replicated: jax.sharding.Sharding):
  """jit with explicit shardings; the old state is donated (its buffers are reused)."""
  return jax.jit(train_step, in_shardings=(state_sharding, batch_sharding, replicated),
                 out_shardings=(state_sharding, replicated), donate_argnums=(0,))
