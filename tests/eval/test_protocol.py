"""The selection protocol against a direct NumPy computation on a threshold 'model'."""

import jax.numpy as jnp
import numpy as np

from paramgen_jax.data import Dataset
from paramgen_jax.eval.protocol import selection_protocol
from paramgen_jax.zoo import tasks as T


class Threshold:
  """A 'model' that answers class 1 when the pixel (the digit's value) is >= its threshold."""

  @staticmethod
  def apply(variables, x):
    positive = (x.reshape(x.shape[0]) >= variables["t"]).astype(jnp.float32)
    return jnp.stack([1.0 - positive, positive], axis=-1)


def _dataset(seed):
  rng = np.random.default_rng(seed)
  split = lambda n: (lambda y: (y.reshape(n, 1, 1, 1).astype(np.float32), y))(
      rng.integers(0, 10, n).astype(np.int32))
  (xa, ya), (xb, yb), (xc, yc) = split(60), split(20), split(40)
  return Dataset("numbers", xa, ya, xb, yb, xc, yc, 10)


def _accuracy(t, x, y, task):
  labels, used = task.relabel(y)
  return 100.0 * np.mean(((x.reshape(-1) >= t).astype(int) == labels)[used])


def test_selection_picks_on_train_and_reports_test():
  data = _dataset(0)
  task = T.binary_task(0b1111100000)  # digits >= 5 positive: the best threshold is 5
  rows = [{"task": task.name, "split": "seen", "test_acc": _accuracy(t, data.x_test, data.y_test,
                                                                     task),
           "train_acc": _accuracy(t, data.x_train, data.y_train, task)} for t in (4.0, 5.0, 7.0)]
  stacked = {"t": np.asarray([4.0, 5.0, 7.0], np.float32)}
  generated = {task.name: {"t": np.asarray([2.0, 5.0, 6.0, 9.0], np.float32)}}
  out = selection_protocol(Threshold(), data, {task.name: task}, rows, stacked, generated)
  (row,) = out["tasks"]
  test = lambda t: _accuracy(t, data.x_test, data.y_test, task)
  assert row["generated_selected"] == test(5.0)  # threshold 5 is perfect on train too
  assert row["original_selected"] == test(5.0)
  np.testing.assert_allclose(row["generated_mean"], np.mean([test(t) for t in (2, 5, 6, 9)]))
  np.testing.assert_allclose(row["soup"], test(np.mean([4.0, 5.0, 7.0])))
  assert out["seen"]["tasks"] == 1 and out["unseen"] == {}
  # Precomputed test accuracies are used as given; rows without train_acc are scored here.
  for r in rows:
    del r["train_acc"]
  given = {task.name: np.asarray([1.0, 2.0, 3.0, 4.0])}
  again = selection_protocol(Threshold(), data, {task.name: task}, rows, stacked, generated,
                             generated_test=given)
  assert again["tasks"][0]["generated_selected"] == 2.0
  assert again["tasks"][0]["original_selected"] == test(5.0)


def test_neighbour_baseline_scores_the_nearest_seen_task_on_the_unseen_one():
  data = _dataset(1)
  seen, unseen = T.binary_task(0b1111100000), T.binary_task(0b1111000000)  # >= 5 vs >= 6
  thresholds = (4.0, 5.0, 6.0)
  rows = ([{"task": seen.name, "split": "seen", "test_acc": 0.0, "train_acc": 0.0}] * 3
          + [{"task": unseen.name, "split": "unseen", "test_acc": 0.0, "train_acc": 0.0}])
  stacked = {"t": np.asarray(thresholds + (7.0,), np.float32)}
  generated = {unseen.name: {"t": np.asarray([9.0], np.float32)}}
  out = selection_protocol(Threshold(), data, {t.name: t for t in (seen, unseen)}, rows, stacked,
                           generated, neighbours={unseen.name: seen.name})
  (row,) = out["tasks"]
  train = [_accuracy(t, data.x_train, data.y_train, unseen) for t in thresholds]
  expected = _accuracy(thresholds[int(np.argmax(train))], data.x_test, data.y_test, unseen)
  assert row["neighbour"] == seen.name and row["neighbour_selected"] == expected
  assert out["unseen"]["neighbour_selected"] == expected
