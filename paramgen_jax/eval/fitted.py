"""Baselines fitted on the seen tasks' weights, what a conditional generator must beat:

  * k-nearest soup: the average of the weights of the k seen tasks whose conditions are
    nearest (Euclidean: Hamming distance for bit codes, cosine order for unit embeddings);
  * ridge regression: the weights as a linear function of the condition (plus a bias),
    fitted on the seen tasks with an L2 penalty λ.

Each task's weights are the mean of its checkpoints in the zoo. k and λ are chosen by leave-
one-task-out on the seen tasks (each held-out task's model fitted without it, scored on its
validation split; at most MAX_FOLDS held-out tasks), never by looking at the tasks reported
on. The fitted map then makes one model per reported task (seen tasks included: for them it
is an interpolation of what the generator was trained on).

    found = condition_baselines(zoo, conditions)          # zoo: eval.entry.ZooView
    found["k-nearest soup"].accuracies["task_7"]          # (1,) test accuracy (%)
    found["k-nearest soup"].chosen                        # {'k': 10, 'loto_val': {...}}
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import jax
import numpy as np

from paramgen_jax import params as P
from paramgen_jax.params.regression import LAMBDA_GRID, Ridge
from paramgen_jax.zoo.accuracy import take_sets

K_GRID = (1, 2, 3, 5, 10, 20, 50)
MIN_SEEN_TASKS = 3  # leave-one-task-out needs tasks to hold out and tasks to fit on
MAX_FOLDS = 48
SOUP, RIDGE = "k-nearest soup", "ridge regression"


class FittedBaseline(NamedTuple):
  """accuracies: {task: test accuracies (1,) of the one model made for it}; chosen: the
  hyper-parameter picked and the leave-one-task-out validation accuracy of each tried."""
  accuracies: dict[str, np.ndarray]
  chosen: dict


def task_means(zoo: Any, tasks: Sequence[str]) -> tuple[P.ParamLayout, np.ndarray]:
  """(layout, (T, num_params) float64): each task's checkpoints averaged, as vectors."""
  layout = P.ParamLayout.from_template(jax.tree_util.tree_map(lambda a: a[0], zoo.stacked))
  vectors = np.asarray(jax.jit(jax.vmap(layout.to_vector))(zoo.stacked), np.float64)
  return layout, np.stack([vectors[zoo.members(t)].mean(0) for t in tasks])


def _models(layout: P.ParamLayout, vectors: np.ndarray) -> Any:
  """(M, num_params) vectors -> M stacked models of the zoo's layout."""
  return jax.tree_util.tree_map(
      np.asarray, jax.vmap(layout.from_vector)(np.asarray(vectors, np.float32)))


def _folds(count: int) -> np.ndarray:
  """Indices of the seen tasks held out in turn: all of them, or MAX_FOLDS evenly spaced."""
  return np.unique(np.linspace(0, count - 1, min(count, MAX_FOLDS)).round().astype(int))


def soup_vectors(conds: np.ndarray, means: np.ndarray, queries: np.ndarray, k: int,
                 exclude: np.ndarray | None = None) -> np.ndarray:
  """(Q, num_params): per query condition, the mean of the k nearest rows of `means`
  (conditions `conds` (T, C)); `exclude` (Q,) a row index each query may not use, or -1."""
  dist = ((queries[:, None, :] - conds[None, :, :]) ** 2).sum(-1)
  if exclude is not None:
    dist[np.arange(len(queries)), exclude] = np.inf
  # Stable sort: ties (equal Hamming distances) go to the earlier seen task, reproducibly.
  nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
  return means[nearest].mean(1)


def _choose(zoo: Any, layout, seen: list[str], conds: np.ndarray, means: np.ndarray,
            grid: Sequence, fit) -> tuple[Any, dict]:
  """The grid value with the best mean validation accuracy over held-out seen tasks."""
  scores = {value: [] for value in grid}
  for i in _folds(len(seen)):
    vectors = np.concatenate([fit(conds[i:i + 1], value, i) for value in grid])
    accuracy = zoo.score(_models(layout, vectors), seen[i], split="val")
    for value, a in zip(grid, accuracy):
      scores[value].append(float(a))
  means_by_value = {value: float(np.mean(s)) for value, s in scores.items()}
  best = max(grid, key=lambda v: means_by_value[v])  # the first best: the smaller k / λ
  return best, {str(v): round(m, 3) for v, m in means_by_value.items()}


def _seen_means(zoo: Any, conditions: Mapping[str, np.ndarray]):
  """(seen tasks with conditions, their conditions (T, C) float64, layout, task means);
  only the tasks, the rest None, when fewer than 3 (nothing to hold out)."""
  seen = [t for t in zoo.tasks("seen") if t in conditions]
  if len(seen) < MIN_SEEN_TASKS:
    return seen, None, None, None
  conds = np.stack([np.asarray(conditions[t], np.float64).ravel() for t in seen])
  layout, means = task_means(zoo, seen)
  return seen, conds, layout, means


def _ridge_choice(zoo: Any, layout, seen: list[str], conds: np.ndarray,
                  means: np.ndarray) -> tuple[Ridge, float, dict]:
  ridge = Ridge.fit(conds, means)
  lam, scores = _choose(zoo, layout, seen, conds, means, LAMBDA_GRID,
                        lambda q, lam, i: ridge.predict(q, lam, i))
  return ridge, lam, scores


def ridge_lambda(zoo: Any, conditions: Mapping[str, np.ndarray]) -> tuple[float, dict]:
  """(λ, {λ: mean validation accuracy}): the ridge regression's penalty, chosen as the
  RIDGE baseline's is (leave-one-task-out validation accuracy over the seen tasks with
  conditions; at least 3). zoo: `eval.entry.ZooView`; conditions: {task: vector (C,)}."""
  seen, conds, layout, means = _seen_means(zoo, conditions)
  if len(seen) < MIN_SEEN_TASKS:
    raise ValueError(f"ridge_lambda: {len(seen)} seen tasks with conditions; leave-one-task-"
                     f"out needs at least {MIN_SEEN_TASKS}")
  _, lam, scores = _ridge_choice(zoo, layout, seen, conds, means)
  return lam, scores


def condition_baselines(zoo: Any, conditions: Mapping[str, np.ndarray],
                        tasks: Sequence[str] | None = None) -> dict[str, FittedBaseline]:
  """{SOUP, RIDGE: FittedBaseline} for `tasks` (default: every zoo task with a condition),
  fitted on the seen tasks with conditions. {} with fewer than 3 seen tasks (nothing to hold
  out). conditions: {task: condition vector (C,)}."""
  seen, conds, layout, means = _seen_means(zoo, conditions)
  if len(seen) < MIN_SEEN_TASKS:
    return {}
  targets = [t for t in (tasks if tasks is not None
                         else zoo.tasks("seen") + zoo.tasks("unseen")) if t in conditions]
  queries = np.stack([np.asarray(conditions[t], np.float64).ravel() for t in targets])
  ks = [k for k in K_GRID if k <= len(seen) - 1]
  k, soup_val = _choose(zoo, layout, seen, conds, means, ks,
                        lambda q, k, i: soup_vectors(conds, means, q, k, np.asarray([i])))
  ridge, lam, ridge_val = _ridge_choice(zoo, layout, seen, conds, means)
  out = {}
  for name, vectors, chosen in (
      (SOUP, soup_vectors(conds, means, queries, k), {"k": k, "loto_val": soup_val}),
      (RIDGE, ridge.predict(queries, lam), {"lambda": lam, "loto_val": ridge_val})):
    models = _models(layout, vectors)
    accuracies = {t: zoo.score(take_sets(models, [j]), t) for j, t in enumerate(targets)}
    out[name] = FittedBaseline(accuracies, {**chosen, "folds": int(len(_folds(len(seen))))})
  return out
