"""Accuracy of many parameter sets at once: `vmap` over sets, chunked to bound memory.

It lives with the zoo because collection measures every checkpoint with it; the evaluation
(`paramgen_jax.eval`) builds on it, and the zoo never imports the evaluation.

`predict_many` cuts the work into chunks of sets and of examples, each as large as XLA's
planned temporary memory allows within a byte budget (`paramgen_jax.memory`): all 1295
training images through 50 ConvNeXt-mini at once would need 27.7 GB.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import memory

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


def _padded_range(start: int, size: int, total: int) -> np.ndarray:
  """Indices start .. start + size - 1, those past the end repeating the last one (padding)."""
  return np.minimum(np.arange(start, start + size), total - 1)


def predict_many(apply_fn: ApplyFn, stacked: Any, x: np.ndarray, *,
                 budget_bytes: int = memory.DEFAULT_BUDGET_BYTES) -> np.ndarray:
  """Predicted classes of every set, in chunks of sets and examples that fit the budget.

  Args:
    apply_fn: (variables, x (B, ...)) -> logits (B, classes).
    stacked: a pytree of variables with leading axis S (the sets).
    x: (N, ...) examples.
    budget_bytes: the most temporary memory XLA may plan for one chunk.

  Returns:
    (S, N) int32 predictions; the same as one `vmap` over all sets and examples.

  Raises:
    MemoryBudgetError: one set on one example is already over the budget.
  """
  total, n = num_sets(stacked), int(np.shape(x)[0])
  if total == 0 or n == 0:
    return np.zeros((total, n), np.int32)
  stacked, x = jax.tree_util.tree_map(memory.host, stacked), memory.host(x)
  predict = _predictor(apply_fn)
  sig = memory.signature((stacked, x), (0, 1))
  sizes = memory.plan_chunks(predict, sig, (total, n), int(budget_bytes),
                             what="prediction (models x examples)")
  run = memory.compiled(predict, sig, sizes)
  # Every chunk has the planned shape (the last ones padded): one executable serves all.
  out = np.zeros((total, n), np.int32)
  for start in range(0, total, sizes[0]):
    part = take_sets(stacked, _padded_range(start, sizes[0], total))
    for first in range(0, n, sizes[1]):
      block = out[start:start + sizes[0], first:first + sizes[1]]
      pred = np.asarray(run(part, x[_padded_range(first, sizes[1], n)]))
      block[...] = pred[:block.shape[0], :block.shape[1]]
  return out


def correct_matrix(predictions: np.ndarray, labels: np.ndarray,
                   used: np.ndarray | None = None) -> np.ndarray:
  """(S, N) predictions and (S, N) or (N,) labels -> (S, N) bool, False where not `used`."""
  correct = predictions == np.broadcast_to(labels, predictions.shape)
  return correct if used is None else correct & np.broadcast_to(used, predictions.shape)


def accuracy(correct: np.ndarray, used: np.ndarray | None = None) -> np.ndarray:
  """(S, N) bool -> (S,) percent accuracy over the used examples."""
  count = correct.shape[1] if used is None else np.broadcast_to(used, correct.shape).sum(1)
  return 100.0 * correct.sum(1) / np.maximum(count, 1)
