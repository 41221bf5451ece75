"""COND P-DIFF task conditions: data features, index conditions, nearest seen task."""

import jax
import numpy as np
import pytest

from paramgen_jax.methods.pdiff import conditions as C
from paramgen_jax.zoo import tasks as T
from paramgen_jax.zoo.conditions import nearest_seen


def test_data_conditions_are_per_label_feature_means():
  x = np.arange(12, dtype=np.float32).reshape(6, 2)
  y = np.asarray([0, 1, 2, 0, 1, 9])
  task = T.binary_task(0b0000000010)  # digit 1 positive, others negative
  got = C.data_conditions([task], lambda b: b * 2.0, x, y, batch_size=4)
  negative = 2.0 * x[[0, 2, 3, 5]].mean(0)
  positive = 2.0 * x[[1, 4]].mean(0)
  np.testing.assert_allclose(got[0], np.concatenate([negative, positive]))


def test_index_conditions_and_nearest_seen():
  tasks = [T.binary_task(c) for c in (1, 2, 3)]
  seen = [tasks[0].name, tasks[1].name]
  onehot = C.condition_vectors("onehot", tasks, seen)
  assert set(onehot) == set(seen) and onehot[seen[1]].tolist() == [0.0, 1.0]
  learned = C.condition_vectors("learned", tasks, seen)
  assert int(learned[seen[1]]) == 1
  vectors = {seen[0]: np.asarray([1.0, 0.0]), seen[1]: np.asarray([0.0, 1.0]),
             tasks[2].name: np.asarray([0.2, 0.9])}
  nearest = nearest_seen(vectors, seen)
  assert nearest == {seen[0]: seen[0], seen[1]: seen[1], tasks[2].name: seen[1]}
  with pytest.raises(ValueError, match="frozen encoder"):
    C.condition_vectors("data", tasks, seen)


def test_seen_tasks_are_equal_conditions_in_order_of_first_appearance():
  conditions = np.asarray([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0]],
                          np.float32)
  seen, task_ids = C.seen_tasks(conditions)
  np.testing.assert_array_equal(seen, [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
  assert task_ids.tolist() == [0, 1, 0, 2, 1] and task_ids.dtype == np.int32
  indices, ids = C.seen_tasks(np.asarray([3, 3, 1, 0, 1], np.int32))  # 'learned': task indices
  assert indices.tolist() == [3, 1, 0] and ids.tolist() == [0, 0, 1, 2, 1]


def test_stats_rows_match_seen_conditions_else_nearest_seen_by_cosine():
  seen = np.asarray([[1.0, 0.0], [0.0, 1.0], [0.0, 2.0]], np.float32)  # rows 1, 2: one direction
  wanted = np.asarray([[0.0, 2.0], [0.0, 1.0], [0.2, 0.9], [3.0, 0.1]], np.float32)
  rows = jax.jit(C.stats_rows)(seen, wanted)
  assert rows.tolist() == [2, 1, 1, 0]  # equal rows win over cosine ties
  names = ["a", "b", "c"]
  vectors = {**dict(zip(names, seen[:2])), "new": wanted[2], "far": wanted[3]}
  assert nearest_seen(vectors, names[:2]) == {"a": "a", "b": "b", "new": "b", "far": "a"}
