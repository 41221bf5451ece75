"""Tasks: the 1022 binary relabelings, subsets with support sets, seen/unseen splits."""

import numpy as np
import pytest

from paramgen_jax.zoo import tasks as T


def test_binary_tasks_are_every_nontrivial_code():
  tasks = T.binary_tasks()
  assert len(tasks) == 1022 and len({t.name for t in tasks}) == 1022
  bits = np.array([t.condition["bits"] for t in tasks])
  assert bits.sum(1).min() == 1 and bits.sum(1).max() == 9
  task = T.binary_task(0b0000000101)  # digits 0 and 2 positive
  assert task.name == "binary_1010000000" and task.num_outputs == 2
  labels, used = task.relabel(np.array([0, 1, 2, 3, 9]))
  np.testing.assert_array_equal(labels, [1, 0, 1, 0, 0])
  assert used.all()
  assert len(task.descriptions) >= 3 and all("0 and 2" in d or "zeros" in d
                                              for d in task.descriptions)
  with pytest.raises(ValueError):
    T.binary_task(1023)


def test_subset_tasks_and_support_sets():
  tasks = T.subset_tasks(3, 5, seed=0)
  assert len(tasks) == 5 and all(t.num_outputs == 3 for t in tasks)
  assert [t.name for t in tasks] == [t.name for t in T.subset_tasks(3, 5, seed=0)]
  task = T.subset_task([7, 1, 3])
  labels, used = task.relabel(np.array([1, 3, 7, 0]))
  np.testing.assert_array_equal(labels[:3], [0, 1, 2])
  np.testing.assert_array_equal(used, [True, True, True, False])
  y = np.repeat(np.arange(10), 20)
  support = T.support_set(y, task, shots=4, seed=0)
  assert len(support) == 12
  np.testing.assert_array_equal(np.bincount(y[support], minlength=10)[[1, 3, 7]], [4, 4, 4])
  with pytest.raises(ValueError, match="fewer than"):
    T.support_set(y, task, shots=50, seed=0)


def test_seen_unseen_split_is_seeded_and_disjoint():
  tasks = T.binary_tasks()
  seen, unseen = T.split_seen_unseen(tasks, 20, seed=0)
  assert len(seen) == 1002 and len(unseen) == 20
  assert not {t.name for t in seen} & {t.name for t in unseen}
  again = T.split_seen_unseen(tasks, 20, seed=0)[1]
  assert [t.name for t in again] == [t.name for t in unseen]
  assert [t.name for t in T.split_seen_unseen(tasks, 20, seed=1)[1]] != [t.name for t in unseen]


def test_spread_sample_covers_every_digit_where_the_first_tasks_do_not():
  seen, _ = T.split_seen_unseen(T.binary_tasks(), 20, 0)
  drawn = T.spread_sample(seen, 64, 0)
  assert len(drawn) == 64 and drawn == sorted(drawn, key=seen.index)  # input order kept
  assert drawn == T.spread_sample(seen, 64, 0)  # seeded
  coverage = T.class_coverage(drawn)
  assert (coverage > 0).all()  # every digit negative in some tasks and positive in others
  assert (T.class_coverage(seen[:16])[:, 1] == 0).any()  # the first 16 never use digit 9


def test_zeroshot_lora_zoo_preset_picks_drawn_seen_tasks_and_unseen_ones():
  from paramgen_jax.zoo import spec
  from tests.helpers import load_config
  config = load_config("zoo_digits_lora", "zeroshot")
  assert config.tasks.limit == 64 and config.tasks.pick == "random"
  # The identity of zoos collected with the default pick is unchanged.
  default = load_config("zoo_digits_lora")
  assert "pick" not in spec.zoo_identity(spec.zoo_sections(default), type("T", (), {"name": "x"}))["tasks"]
  assert spec.zoo_identity(spec.zoo_sections(config), type("T", (), {"name": "x"}))["tasks"]["pick"] == "random"


def test_far_codes_split_keeps_every_unseen_code_radius_plus_one_bits_from_the_seen():
  tasks = T.binary_tasks()
  seen, unseen = T.split_far_codes(tasks, 12, radius=2, seed=0)
  assert len(unseen) == 12 and len(seen) == 477
  assert all(min(T.hamming(u, s) for s in seen) == 3 for u in unseen)
  assert all(T.hamming(a, b) > 2 for a in unseen for b in unseen if a is not b)
  assert seen == sorted(seen, key=tasks.index)  # input order kept
  assert unseen == T.split_far_codes(tasks, 12, radius=2, seed=0)[1]  # seeded
  with pytest.raises(ValueError, match="cannot place 40 unseen codes 4 bits apart"):
    T.split_far_codes(tasks, 40, radius=3, seed=0)


def test_held_out_classes_split_keeps_the_classes_out_of_every_seen_task():
  tasks = T.subset_tasks(5, 252, seed=0)
  seen, unseen = T.split_held_out_classes(tasks, (9,), 52, seed=0)
  assert len(seen) == 126 and len(unseen) == 52
  assert all(9 not in t.condition["classes"] for t in seen)
  assert all(9 in t.condition["classes"] for t in unseen)
  assert unseen == T.split_held_out_classes(tasks, (9,), 52, seed=0)[1]
  with pytest.raises(ValueError, match=r"num_unseen must be in \[1, 126\]"):
    T.split_held_out_classes(tasks, (9,), 127, seed=0)
  with pytest.raises(ValueError, match="held-out classes must be some of 0..9"):
    T.split_held_out_classes(tasks, (10,), 5, seed=0)


def test_split_options_enter_a_zoos_identity_only_when_not_random():
  from paramgen_jax.zoo import spec
  from tests.helpers import load_config
  target = type("T", (), {"name": "mlp"})
  random = spec.zoo_identity(spec.zoo_sections(load_config("zoo_digits_binary")), target)
  assert not {"split", "held_out_classes", "far_radius"} & set(random["tasks"])
  far = spec.zoo_identity(spec.zoo_sections(load_config("zoo_digits_binary", "far")), target)
  assert (far["tasks"]["split"], far["tasks"]["far_radius"]) == ("far_codes", 2)
