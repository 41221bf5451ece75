"""Baselines every generator is compared with: the model soup and noised originals."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from paramgen_jax import params as P


def soup(stacked: Any) -> Any:
  """Weight average of a stack (S, ...) -> (1, ...); integer leaves are taken from the first."""
  def average(a):
    a = np.asarray(a)
    return (a.mean(0, keepdims=True).astype(a.dtype) if np.issubdtype(a.dtype, np.floating)
            else a[:1])
  return jax.tree_util.tree_map(average, stacked)


def noised(picked: Any, layout: P.ParamLayout, stats: P.LayerStats, sigma: float,
           key: jax.Array) -> Any:
  """Every model of `picked` (S, ...) with N(0, σ²) added in the normalized space.

  Leaves the layout keeps constant (integer counters) come back as the layout's template.

  Args:
    picked: the originals to perturb, stacked.
    layout, stats: the zoo's layout and per-layer statistics (`params.fit_layer_stats`).
    sigma: noise std in normalized units.
    key: PRNG key.
  """
  vectors = jax.vmap(layout.to_vector)(picked)
  z = jax.vmap(lambda v: P.normalize_layers(v, stats, layout))(vectors)
  z = z + sigma * jax.random.normal(key, z.shape, z.dtype)
  back = jax.vmap(lambda v: P.denormalize_layers(v, stats, layout))(z)
  return jax.tree_util.tree_map(np.asarray, jax.vmap(layout.from_vector)(back))


def stacked_vectors(stacked: Any, layout: P.ParamLayout) -> np.ndarray:
  """(S, num_params) float32 parameter vectors of a stack."""
  return np.asarray(jax.vmap(layout.to_vector)(stacked), np.float32)
