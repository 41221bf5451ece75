"""D2NWG's class-column soup: each class's output column averaged over the seen heads, put in
the slot the class takes in a new task (its rank among the task's classes)."""

import itertools
import types

import numpy as np

from paramgen_jax.methods.d2nwg.baselines import class_column_soup
from paramgen_jax.zoo.tasks import subset_task


class SubsetZoo:
  """A ZooView stand-in: 3-way subsets of 5 classes, 2 heads per seen task whose column j is
  class c_j's own vector (plus noise that cancels in the average); a model scores 100 minus
  its distance to the task's ideal head."""

  def __init__(self, unseen=("subset_0_3_4", "subset_1_2_4")):
    rng = np.random.default_rng(0)
    self.columns, self.biases = rng.normal(size=(5, 4)), rng.normal(size=5)
    tasks = [subset_task(c, num_classes=5) for c in itertools.combinations(range(5), 3)]
    self.by_name = {t.name: t for t in tasks}
    self.split = {t.name: "unseen" if t.name in unseen else "seen" for t in tasks}
    self.rows = [t.name for t in tasks for _ in range(2)]
    kernels, biases = [], []
    for i, name in enumerate(self.rows):
      sign = 1 if i % 2 else -1  # the two heads' noise cancels
      kernel, bias = self.ideal(name)
      kernels.append(kernel + sign * 0.01)
      biases.append(bias + sign * 0.01)
    self.stacked = {"Dense_0": {"kernel": np.asarray(kernels, np.float32),
                                "bias": np.asarray(biases, np.float32)}}
    self.inputs = types.SimpleNamespace(by_name=self.by_name)

  def ideal(self, name):
    classes = self.by_name[name].condition["classes"]
    return self.columns[classes].T, self.biases[classes]

  def members(self, task):
    return np.flatnonzero([r == task for r in self.rows])

  def tasks(self, split):
    return [n for n in self.by_name if self.split[n] == split]

  def score(self, models, task, split="test"):
    kernel, bias = self.ideal(task)
    got = models["Dense_0"]
    distance = np.sqrt(((np.asarray(got["kernel"]) - kernel) ** 2).sum((1, 2))
                       + ((np.asarray(got["bias"]) - bias) ** 2).sum(1))
    return 100 - distance


def test_class_columns_go_to_each_class_slot_in_a_new_combination():
  zoo = SubsetZoo()
  found = class_column_soup(zoo)
  assert set(found) == set(zoo.by_name)
  for task in ("subset_0_3_4", "subset_1_2_4", "subset_0_1_2"):
    assert found[task].shape == (1,) and found[task][0] > 100 - 1e-4, (task, found[task])


def test_a_class_no_seen_task_has_gets_the_average_of_every_seen_column():
  seen_without_4 = [n for n in SubsetZoo().by_name if "4" not in n.split("_")[1:]]
  zoo = SubsetZoo(unseen=tuple(n for n in SubsetZoo().by_name if n not in seen_without_4))
  found = class_column_soup(zoo)
  assert set(found) == set(zoo.by_name)
  fallback = (zoo.columns[:4].mean(0), zoo.biases[:4].mean())  # every seen task: 3 columns
  kernel, bias = zoo.ideal("subset_0_1_4")
  distance = np.sqrt(((kernel[:, 2] - fallback[0]) ** 2).sum() + (bias[2] - fallback[1]) ** 2)
  assert np.isclose(found["subset_0_1_4"][0], 100 - distance, atol=1e-3)
  assert all(found[n][0] > 100 - 1e-4 for n in seen_without_4)
