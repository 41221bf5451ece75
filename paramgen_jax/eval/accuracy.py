"""Accuracy of many parameter sets at once: `vmap` over sets, chunked to bound memory."""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

ApplyFn = Callable[[Any, jax.Array], jax.Array]


def num_sets(stacked: Any) -> int:
  return int(jax.tree_util.tree_leaves(stacked)[0].shape[0])


@functools.lru_cache(maxsize=64)
def _predictor(apply_fn: ApplyFn):
  # One jitted function per model function: evaluating many tasks one call each (20 tasks ×
  # 3 splits) then compiles once per shape instead of once per call.
  return jax.jit(jax.vmap(lambda p, x: jnp.argmax(apply_fn(p, x), -1), in_axes=(0, None)))


def take_sets(stacked: Any, index) -> Any:
  """The sets at `index` (an int or an index array) of a stacked pytree, as NumPy arrays."""
  return jax.tree_util.tree_map(lambda a: np.asarray(a)[np.asarray(index)], stacked)


def predict_many(apply_fn: ApplyFn, stacked: Any, x: np.ndarray, *, chunk: int = 256) -> np.ndarray:
  """Predicted classes of every set: stacked pytree with leading axis S, x (N, ...) -> (S, N)."""
  predict = _predictor(apply_fn)
  total = num_sets(stacked)
  out = []
  for start in range(0, total, chunk):
    part = jax.tree_util.tree_map(lambda a: a[start:start + chunk], stacked)
    out.append(np.asarray(predict(part, x)))
  return np.concatenate(out) if out else np.zeros((0, x.shape[0]), np.int32)


def correct_matrix(predictions: np.ndarray, labels: np.ndarray,
                   used: np.ndarray | None = None) -> np.ndarray:
  """(S, N) predictions and (S, N) or (N,) labels -> (S, N) bool, False where not `used`."""
  correct = predictions == np.broadcast_to(labels, predictions.shape)
  return correct if used is None else correct & np.broadcast_to(used, predictions.shape)


def accuracy(correct: np.ndarray, used: np.ndarray | None = None) -> np.ndarray:
  """(S, N) bool -> (S,) percent accuracy over the used examples."""
  count = correct.shape[1] if used is None else np.broadcast_to(used, correct.shape).sum(1)
  return 100.0 * correct.sum(1) / np.maximum(count, 1)
