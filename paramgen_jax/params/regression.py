"""Ridge regression from condition vectors to flattened weights, with exact leave-one-out.

    ridge = Ridge.fit(conditions, weights)        # (T, C), (T, P) float64
    ridge.predict(queries, lam)                   # (Q, P)
    ridge.predict(queries, lam, drop=i)           # fitted without row i: (C+1)-sized solves
    ridge.held_out(lam)                           # (T, P): each row fitted without itself
    ridge.coefficients(lam)                       # (C+1, P), the bias row last
    lam = held_out_lambda(conditions, weights)    # the grid's λ of least held-out error
    residuals, coefficients = task_residuals(vectors, conditions, lam)   # (N, P), (C+1, P)
    vectors = residuals + predict_weights(coefficients, conditions)     # traceable

Used by the simple baselines (`eval.fitted`) and by the generators that learn what the
regression misses (the mapping's and RPG's `generator.residual = 'ridge'`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


LAMBDA_GRID = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


def with_bias(conditions: np.ndarray) -> np.ndarray:
  """(Q, C) -> (Q, C+1): the conditions with a constant 1 appended."""
  return np.concatenate([conditions, np.ones((len(conditions), 1))], 1)


class Ridge(NamedTuple):
  """The seen tasks' normal equations with X̃ = [conditions, 1]: gram X̃ᵀX̃ (C+1, C+1),
  cross X̃ᵀY (C+1, num_params); rows X̃ (T, C+1) and targets Y (T, num_params) to drop one."""
  gram: np.ndarray
  cross: np.ndarray
  rows: np.ndarray
  targets: np.ndarray

  @classmethod
  def fit(cls, conds: np.ndarray, means: np.ndarray) -> "Ridge":
    rows = with_bias(conds)
    return cls(rows.T @ rows, rows.T @ means, rows, means)

  def coefficients(self, lam: float, drop: int | None = None) -> np.ndarray:
    """(C+1, num_params): the fit with penalty λ on all but the bias (the last row), without
    seen row `drop`: (C+1)-sized solves, no pass over the rows."""
    gram, cross = self.gram, self.cross
    if drop is not None:
      row = self.rows[drop]
      gram, cross = gram - np.outer(row, row), cross - np.outer(row, self.targets[drop])
    penalty = np.ones(len(gram))
    penalty[-1] = 0.0
    return np.linalg.solve(gram + lam * np.diag(penalty), cross)

  def predict(self, queries: np.ndarray, lam: float, drop: int | None = None) -> np.ndarray:
    """(Q, num_params) at the query conditions (Q, C) (`coefficients(lam, drop)`)."""
    return with_bias(queries) @ self.coefficients(lam, drop)

  def held_out(self, lam: float) -> np.ndarray:
    """(T, num_params): each fitted row's prediction from the fit without that row."""
    return np.concatenate([self.rows[t:t + 1] @ self.coefficients(lam, t)
                           for t in range(len(self.rows))])


def held_out_lambda(conds: np.ndarray, targets: np.ndarray, grid=LAMBDA_GRID) -> float:
  """The λ of `grid` whose leave-one-row-out predictions of `targets` (T, P) from `conds`
  (T, C) have the least mean squared error (the first best: the smaller λ)."""
  ridge = Ridge.fit(conds, targets)
  errors = [float(np.mean((ridge.held_out(lam) - targets) ** 2)) for lam in grid]
  return grid[int(np.argmin(errors))]


def task_residuals(vectors: np.ndarray, conditions: np.ndarray,
                   lam: float) -> tuple[np.ndarray, np.ndarray]:
  """(residuals (N, P) float32, coefficients (C+1, P) float32) of N models' flattened weights
  `vectors` (N, P) with conditions (N, C).

  The regression is fitted from each task's condition (a distinct row of `conditions`) to
  the mean weights of its models; a model's residual is its weights minus its task's
  prediction fitted *without* that task, as an unseen task's prediction is made without it.
  """
  vectors = np.asarray(vectors, np.float64)
  tasks, task_of = np.unique(np.asarray(conditions, np.float64), axis=0, return_inverse=True)
  task_of = task_of.ravel()
  means = np.stack([vectors[task_of == t].mean(0) for t in range(len(tasks))])
  ridge = Ridge.fit(tasks, means)
  residuals = vectors - ridge.held_out(lam)[task_of]
  return residuals.astype(np.float32), ridge.coefficients(lam).astype(np.float32)


def predict_weights(coefficients: jnp.ndarray, conditions: jnp.ndarray) -> jnp.ndarray:
  """(M, P) float32: the regression's weights at conditions (M, C). Traceable."""
  conditions = jnp.asarray(conditions, jnp.float32)
  rows = jnp.concatenate([conditions, jnp.ones((len(conditions), 1), jnp.float32)], 1)
  return rows @ jnp.asarray(coefficients, jnp.float32)


def ridge_residuals(layout: Any, zoo: Any, conditions: np.ndarray,
                    lam: float) -> tuple[Any, np.ndarray]:
  """(residual models, coefficients (F+1, P) float32) for `generator.residual = 'ridge'`:
  `task_residuals` of the models `zoo` (leaves (N, ...), `layout` a ParamLayout of one
  model; conditions (N, F))."""
  vectors = jax.jit(jax.vmap(layout.to_vector))(zoo)
  residuals, coefficients = task_residuals(vectors, conditions, lam)
  return jax.vmap(layout.from_vector)(residuals), coefficients


def add_ridge(layout: Any, coefficients: jnp.ndarray, conditions: jnp.ndarray,
              models: Any) -> Any:
  """models (leaves (M, ...)) plus the regression's weights at conditions (M, F)."""
  base = jax.vmap(layout.from_vector)(predict_weights(coefficients, conditions))
  return jax.tree_util.tree_map(lambda m, b: (m + b).astype(m.dtype), models, base)
