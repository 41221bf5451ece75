"""The baselines fitted on the seen tasks' weights (`eval.fitted`): the leave-one-out ridge
equals a fit without the row, the soup averages the k nearest, and on a zoo whose weights
are linear in the condition the ridge map recovers an unseen task exactly while leave-one-
task-out picks its hyper-parameters without looking at unseen tasks."""

import itertools

import numpy as np
import pytest

from paramgen_jax.eval.fitted import (RIDGE, SOUP, FittedBaseline, condition_baselines,
                                      ridge_lambda, soup_vectors)
from paramgen_jax.params.regression import LAMBDA_GRID, Ridge, held_out_lambda


def test_ridge_left_out_row_equals_a_fit_without_it_and_the_normal_equations():
  rng = np.random.default_rng(0)
  conds, means, queries = rng.normal(size=(9, 3)), rng.normal(size=(9, 5)), rng.normal(size=(4, 3))
  lam = 0.7
  for drop in (0, 4, 8):
    kept = np.delete(np.arange(9), drop)
    fresh = Ridge.fit(conds[kept], means[kept]).predict(queries, lam)
    np.testing.assert_allclose(Ridge.fit(conds, means).predict(queries, lam, drop), fresh,
                               rtol=1e-9, atol=1e-9)
  x = np.concatenate([conds, np.ones((9, 1))], 1)
  w = np.linalg.solve(x.T @ x + lam * np.diag([1.0, 1.0, 1.0, 0.0]), x.T @ means)
  np.testing.assert_allclose(Ridge.fit(conds, means).predict(queries, lam),
                             np.concatenate([queries, np.ones((4, 1))], 1) @ w, rtol=1e-9)
  held_out = Ridge.fit(conds, means).held_out(lam)
  for row in (0, 4, 8):
    kept = np.delete(np.arange(9), row)
    np.testing.assert_allclose(
        held_out[row], Ridge.fit(conds[kept], means[kept]).predict(conds[row:row + 1], lam)[0],
        rtol=1e-9, atol=1e-9)


def test_held_out_lambda_is_the_smallest_for_linear_targets_and_large_for_noise():
  rng = np.random.default_rng(1)
  conds = rng.normal(size=(12, 3))
  linear = conds @ rng.normal(size=(3, 6)) + 2.0
  assert held_out_lambda(conds, linear) == LAMBDA_GRID[0]
  # Targets unrelated to the conditions: the best prediction is near their mean (the bias).
  assert held_out_lambda(conds, rng.normal(size=(12, 6))) >= 100.0


def test_soup_averages_the_k_nearest_and_never_the_excluded_row():
  conds = np.asarray([[0, 0], [0, 1], [1, 1], [5, 5]], np.float64)
  means = np.asarray([[0.0], [1.0], [2.0], [3.0]])
  q = np.asarray([[0.0, 0.0]])
  np.testing.assert_allclose(soup_vectors(conds, means, q, 1), [[0.0]])
  np.testing.assert_allclose(soup_vectors(conds, means, q, 2), [[0.5]])
  np.testing.assert_allclose(soup_vectors(conds, means, q, 1, np.asarray([0])), [[1.0]])


class LinearZoo:
  """A ZooView stand-in: task t's 3 checkpoints scatter around W·code_t + b; a model's score
  on a task is 100 minus its distance to that task's own weights (so closer is better)."""

  def __init__(self, unseen=("0110", "1001")):
    rng = np.random.default_rng(1)
    self.codes = {"".join(map(str, bits)): np.asarray(bits, np.float64)
                  for bits in itertools.product((0, 1), repeat=4)}
    self.split = {name: "unseen" if name in unseen else "seen" for name in self.codes}
    weights, bias = rng.normal(size=(4, 6)), rng.normal(size=6)
    self.truth = {name: code @ weights + bias for name, code in self.codes.items()}
    self.rows = [name for name in self.codes for _ in range(3)]
    noise = 0.01 * rng.normal(size=(len(self.rows), 6))
    noise -= noise.reshape(-1, 3, 6).mean(1).repeat(3, 0)  # each task's mean is its truth
    self.stacked = {"w": np.stack([self.truth[n] for n in self.rows]).astype(np.float32)
                    + noise.astype(np.float32)}

  def members(self, task):
    return np.flatnonzero([r == task for r in self.rows])

  def tasks(self, split):
    return [n for n in self.codes if self.split[n] == split]

  def score(self, models, task, split="test"):
    return 100 - np.linalg.norm(np.asarray(models["w"], np.float64) - self.truth[task], axis=1)


def test_on_linear_weights_the_ridge_map_recovers_unseen_tasks_and_beats_the_soup():
  zoo = LinearZoo()
  found = condition_baselines(zoo, zoo.codes)
  assert set(found) == {SOUP, RIDGE} and all(isinstance(b, FittedBaseline) for b in found.values())
  ridge, soup = found[RIDGE], found[SOUP]
  assert ridge.chosen["lambda"] == 0.01 and soup.chosen["k"] >= 1
  assert set(ridge.chosen["loto_val"]) == {"0.01", "0.1", "1.0", "10.0", "100.0", "1000.0"}
  assert ridge.chosen["folds"] == 14  # every seen task held out once
  for task in ("0110", "1001"):
    assert ridge.accuracies[task].shape == (1,)
    assert ridge.accuracies[task][0] == pytest.approx(100, abs=0.01)
    assert soup.accuracies[task][0] < ridge.accuracies[task][0] - 0.1
  assert len(ridge.accuracies) == 16


def test_fewer_than_three_seen_tasks_fit_nothing_and_targets_can_be_chosen():
  zoo = LinearZoo(unseen=tuple(n for n in LinearZoo().codes if n not in ("0000", "1111")))
  assert condition_baselines(zoo, zoo.codes) == {}
  zoo = LinearZoo()
  found = condition_baselines(zoo, zoo.codes, tasks=["0110"])
  assert list(found[SOUP].accuracies) == ["0110"]


def test_ridge_lambda_is_the_ridge_baselines_choice_and_needs_three_seen_tasks():
  zoo = LinearZoo()
  noise = {n: np.random.default_rng(len(n) + i).normal(size=4)
           for i, n in enumerate(zoo.codes)}
  for conditions, expected in ((zoo.codes, 0.01), (noise, None)):
    lam, scores = ridge_lambda(zoo, conditions)
    chosen = condition_baselines(zoo, conditions)[RIDGE].chosen
    assert lam == chosen["lambda"] and scores == chosen["loto_val"]
    assert expected is None or lam == expected
  assert ridge_lambda(zoo, noise)[0] >= 10  # conditions that say nothing: shrink to the mean
  few = LinearZoo(unseen=tuple(n for n in LinearZoo().codes if n not in ("0000", "1111")))
  with pytest.raises(ValueError, match="at least 3"):
    ridge_lambda(few, few.codes)

