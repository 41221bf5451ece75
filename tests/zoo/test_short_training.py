"""A few steps of the zoo's recipe (`zoo.short_training`): the step counts asked for in one
call equal separate calls, the shared start is the zoo's own, and training helps."""

import jax
import ml_collections
import numpy as np
import pytest

from paramgen_jax import data
from paramgen_jax.eval.protocol import split_accuracy
from paramgen_jax.zoo.models import make_target
from paramgen_jax.zoo.short_training import recipe_start, train_steps
from paramgen_jax.zoo.tasks import binary_task, subset_task

SPEC = ml_collections.ConfigDict(dict(
    seeds=(0,), tasks_per_unit=2, epochs=2, batch_size=64, lr=3e-3, save_lr=1e-5,
    warmup_steps=2, weight_decay=0.01, clip_norm=1.0, checkpoints=3, augment_shift=0,
    label_smoothing=0.0, shared_init=True))


@pytest.fixture(scope="module")
def setup():
  digits = data.load_digits()
  target = make_target("mlp", 2, hidden=(16,))
  tasks = [binary_task(5), binary_task(300)]
  return digits, target, tasks, recipe_start(target, digits, len(tasks), 0)


def test_marks_in_one_call_equal_separate_calls_and_starts_are_the_zoos(setup):
  digits, target, tasks, starts = setup
  together = train_steps(target, digits, tasks, starts, SPEC, (1, 5))
  for steps in (1, 5):
    alone = train_steps(target, digits, tasks, starts, SPEC, (steps,))[steps]
    for a, b in zip(jax.tree_util.tree_leaves(alone), jax.tree_util.tree_leaves(together[steps])):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  base = jax.random.fold_in(jax.random.key(0), 0)  # collect's base key for seed 0
  zoo_init = target.init(base, np.zeros((1, 64), np.float32))
  for a, b in zip(jax.tree_util.tree_leaves(zoo_init), jax.tree_util.tree_leaves(starts)):
    np.testing.assert_array_equal(b[1], a)


def test_a_hundred_steps_beat_the_start_and_a_subset_task_trains(setup):
  digits, target, tasks, starts = setup
  trained = train_steps(target, digits, tasks, starts, SPEC, (100,))[100]
  for j, task in enumerate(tasks):
    one = lambda stacked: split_accuracy(target.apply, jax.tree_util.tree_map(
        lambda a: a[j:j + 1], stacked), digits, task, "test")[0]
    assert one(trained) > one(starts) + 20
  head = make_target("mlp", 3, hidden=())
  subset = [subset_task((1, 4, 7))]
  start = recipe_start(head, digits, 1, 0)
  tuned = train_steps(head, digits, subset, start, SPEC, (100,))[100]
  before, after = (split_accuracy(head.apply, m, digits, subset[0], "test")[0]
                   for m in (start, tuned))
  assert after > before + 30  # 3-way: only the subset's examples are used
