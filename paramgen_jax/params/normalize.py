"""Normalization of parameter vectors with statistics from a checkpoint collection.

Per-layer (RPG, p-diff): one mean and one std per layer, over *all* checkpoints and all
entries of the layer (not per checkpoint). Variance-like leaves (BatchNorm running
variance, marked by the layout) are first mapped with RPG's log transform

    y = log(v / premean + 0.05),   premean = 0.95 * mean(v)   (per layer)
    v = max(exp(y) - 0.05, 0.001) * premean                   (inverse)

whose inverse is exact except that it clips variances below 0.001 * premean.

Per-task z-score (COND P-DIFF): a mean and std per *coordinate* for each task, computed
over that task's checkpoints; a vector is normalized with its own task's statistics.
`fit_coordinate_stats` also gives COND P-DIFF's two ablations in the same form: 'batch'
(one mean/std per coordinate over all checkpoints, every task sharing it) and 'none'.

All statistics are computed in float32 and are plain pytrees (NamedTuples of arrays), so
they can be saved with the generator and passed through `jax.jit`. Inverses are exact up
to float32 rounding (the structural transforms in `layout`/`tokens` are bit-exact).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax.params.layout import ParamLayout

LOG_OFFSET = 0.05
PREMEAN_FACTOR = 0.95
MIN_VARIANCE_RATIO = 0.001


class LayerStats(NamedTuple):
  """Per-layer statistics. mean, std, premean: (num_layers,) float32."""
  mean: jax.Array
  std: jax.Array
  premean: jax.Array


class TaskStats(NamedTuple):
  """Per-task, per-coordinate statistics. mean, std: (num_tasks, num_params) float32."""
  mean: jax.Array
  std: jax.Array


def _safe_std(std: jax.Array, min_std: float) -> jax.Array:
  # A layer or coordinate that never varies (frozen, constant init) is left unscaled
  # instead of being divided by ~0, which would blow sampling noise up.
  return jnp.where(std < min_std, 1.0, std)


def _log_forward(vector: jax.Array, premean_per_element: jax.Array,
                 log_mask: np.ndarray) -> jax.Array:
  logged = jnp.log(vector / premean_per_element + LOG_OFFSET)
  return jnp.where(log_mask, logged, vector)


def _log_inverse(vector: jax.Array, premean_per_element: jax.Array,
                 log_mask: np.ndarray) -> jax.Array:
  variance = jnp.maximum(jnp.exp(vector) - LOG_OFFSET, MIN_VARIANCE_RATIO) * premean_per_element
  return jnp.where(log_mask, variance, vector)


def _segment_mean(values: jax.Array, layout: ParamLayout) -> jax.Array:
  """(N, P) -> (num_layers,): mean over checkpoints and each layer's entries."""
  sums = jax.ops.segment_sum(values.sum(0), layout.element_group,
                             num_segments=len(layout.groups))
  counts = jnp.maximum(layout.group_sizes * values.shape[0], 1)
  return sums / counts


def fit_layer_stats(vectors: jax.Array, layout: ParamLayout, *,
                    min_std: float = 1e-8) -> LayerStats:
  """Per-layer statistics of a collection.

  Args:
    vectors: (num_checkpoints, num_params) parameter vectors (`layout.to_vector`).
    layout: their layout; gives the layer of every entry and the log-transformed entries.
    min_std: layers whose std is below this are not rescaled.
  """
  if vectors.ndim != 2 or vectors.shape[1] != layout.num_params:
    raise ValueError(f"expected (num_checkpoints, {layout.num_params}), got {vectors.shape}")
  vectors = vectors.astype(jnp.float32)
  premean = PREMEAN_FACTOR * _segment_mean(vectors, layout)
  premean = jnp.where(layout.group_log, premean, 1.0)
  transformed = jax.vmap(_log_forward, in_axes=(0, None, None))(
      vectors, premean[layout.element_group], layout.element_log)
  mean = _segment_mean(transformed, layout)
  variance = _segment_mean(jnp.square(transformed - mean[layout.element_group][None]), layout)
  return LayerStats(mean, _safe_std(jnp.sqrt(variance), min_std), premean)


def normalize_layers(vector: jax.Array, stats: LayerStats, layout: ParamLayout) -> jax.Array:
  """(num_params,) -> (num_params,) float32: log transform, then per-layer z-score."""
  group = layout.element_group
  transformed = _log_forward(vector.astype(jnp.float32), stats.premean[group],
                             layout.element_log)
  return (transformed - stats.mean[group]) / stats.std[group]


def denormalize_layers(vector: jax.Array, stats: LayerStats, layout: ParamLayout) -> jax.Array:
  """Inverse of `normalize_layers`, cast back to `layout.dtype`."""
  group = layout.element_group
  transformed = vector.astype(jnp.float32) * stats.std[group] + stats.mean[group]
  return _log_inverse(transformed, stats.premean[group], layout.element_log).astype(layout.dtype)


def fit_task_stats(vectors: jax.Array, task_ids: jax.Array, num_tasks: int, *,
                   min_std: float = 1e-8) -> TaskStats:
  """Per-task, per-coordinate statistics.

  Args:
    vectors: (num_checkpoints, num_params).
    task_ids: (num_checkpoints,) int task of every checkpoint, in [0, num_tasks).
    num_tasks: number of tasks; a task with no checkpoint gets mean 0 and std 1.
    min_std: coordinates whose std is below this are not rescaled.
  """
  vectors = vectors.astype(jnp.float32)
  counts = jax.ops.segment_sum(jnp.ones(vectors.shape[0]), task_ids, num_segments=num_tasks)
  denom = jnp.maximum(counts, 1)[:, None]
  mean = jax.ops.segment_sum(vectors, task_ids, num_segments=num_tasks) / denom
  sq = jax.ops.segment_sum(jnp.square(vectors - mean[task_ids]), task_ids,
                           num_segments=num_tasks) / denom
  return TaskStats(mean, _safe_std(jnp.sqrt(sq), min_std))


def fit_pooled_stats(vectors: jax.Array, *, min_std: float = 1e-8) -> TaskStats:
  """Each coordinate's mean and std over every checkpoint of (N, num_params): TaskStats of one
  task, (1, num_params); use `normalize_task(v, 0, stats)`."""
  vectors = jnp.asarray(vectors)
  return fit_task_stats(vectors, jnp.zeros(vectors.shape[0], jnp.int32), 1, min_std=min_std)


def normalize_task(vector: jax.Array, task: jax.Array, stats: TaskStats) -> jax.Array:
  """(num_params,), scalar task -> (num_params,) float32 z-score with the task's stats."""
  return (vector.astype(jnp.float32) - stats.mean[task]) / stats.std[task]


def denormalize_task(vector: jax.Array, task: jax.Array, stats: TaskStats) -> jax.Array:
  """Inverse of `normalize_task` (float32)."""
  return vector.astype(jnp.float32) * stats.std[task] + stats.mean[task]


COORDINATE_NORMALIZATIONS = ("task", "batch", "none")


def fit_coordinate_stats(kind: str, vectors: jax.Array, task_ids: jax.Array, num_tasks: int,
                         *, min_std: float = 1e-8) -> TaskStats:
  """Per-coordinate statistics of one of COND P-DIFF's normalizations, as TaskStats.

  Args:
    kind: 'task' (per-task z-score), 'batch' (z-score over all checkpoints, the same row
      for every task) or 'none' (mean 0, std 1).
    vectors: (num_checkpoints, num_params); task_ids: (num_checkpoints,) in [0, num_tasks).
  Returns:
    TaskStats with mean, std (num_tasks, num_params); use `normalize_task`.
  """
  if kind not in COORDINATE_NORMALIZATIONS:
    raise ValueError(f"normalization must be one of {COORDINATE_NORMALIZATIONS}, got {kind!r}")
  vectors = jnp.asarray(vectors, jnp.float32)
  if kind == "task":
    return fit_task_stats(vectors, jnp.asarray(task_ids), num_tasks, min_std=min_std)
  shape = (num_tasks, vectors.shape[1])
  if kind == "none":
    return TaskStats(jnp.zeros(shape), jnp.ones(shape))
  pooled = fit_pooled_stats(vectors, min_std=min_std)
  return TaskStats(jnp.broadcast_to(pooled.mean, shape), jnp.broadcast_to(pooled.std, shape))
