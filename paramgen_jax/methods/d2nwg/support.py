"""Support sets: the only view of a task D2NWG's generator gets.

A task's support set is `shots` training images of each of its classes, drawn with a seed
(`tasks.support_set`), as features of the frozen condition backbone, grouped by class in
the task's label order: (C, K, F). Draw r of task i uses seed [support.seed, i, r]; draw 0
is the support set a task is generated from, draws 1.. only train the encoder.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from paramgen_jax import data as data_lib
from paramgen_jax import memory
from paramgen_jax.zoo import features as features_lib
from paramgen_jax.zoo import spec
from paramgen_jax.zoo import tasks as tasks_lib
from paramgen_jax.zoo.tasks import Task


def backbone_dir(config: Any, workdir: str) -> str:
  """The condition backbone's folder: the head zoo's own extractor when the sections agree."""
  same = config.get("features") is not None and (
      config.features.to_dict() == config.backbone.to_dict())
  return spec.backbone_dir(workdir) if same else os.path.join(workdir, "condition_backbone")


def image_features(config: Any, workdir: str, *, train: bool) -> tuple[np.ndarray, np.ndarray,
                                                                         Any]:
  """(train features (N, F), train labels (N,), the raw Dataset) through the frozen condition
  backbone (trained in `backbone_dir` first when `train` and missing, without the examples
  of the zoo's held-out classes, as the head zoo's extractor)."""
  raw = data_lib.load(config.data.name, seed=config.data.seed,
                      image_size=config.data.image_size or None)
  target, variables = features_lib.backbone(
      config.backbone, backbone_dir(config, workdir), raw, config.collect, train=train,
      budget_bytes=memory.budget_bytes(config.get("memory")),
      held_out_classes=tuple(config.tasks.held_out_classes))
  return features_lib.extract(target, variables, raw.x_train), raw.y_train, raw


def task_numbers(inputs: Any, names: Sequence[str]) -> list[int]:
  """Each task's index in the zoo's task list (`spec.ZooInputs`): what seeds its draws."""
  order = {name: i for i, name in enumerate(inputs.by_name)}
  return [order[name] for name in names]


def support_indices(labels: np.ndarray, task: Task, shots: int, seed: Sequence[int]) -> np.ndarray:
  """(C, shots) training-example indices, row c for the task's label c."""
  rng_seed = int(np.random.default_rng(list(seed)).integers(2**31))
  chosen = tasks_lib.support_set(labels, task, shots, rng_seed)
  classes = [c for c, label in sorted(enumerate(task.label_map), key=lambda p: p[1])
             if label >= 0]
  return np.stack([chosen[labels[chosen] == c] for c in classes])


def support_sets(features: np.ndarray, labels: np.ndarray, tasks: Sequence[Task],
                 task_numbers: Sequence[int], shots: int, draws: int, seed: int,
                 first_draw: int = 0) -> np.ndarray:
  """(T, draws, C, shots, F) support-set features; task_numbers: each task's index in the
  zoo's task list (so a task's draws do not depend on which other tasks are asked for)."""
  return np.stack([
      np.stack([features[support_indices(labels, task, shots, (seed, number, r))]
                for r in range(first_draw, first_draw + draws)])
      for task, number in zip(tasks, task_numbers)]).astype(np.float32)


def pad_shots(support: np.ndarray, shots: int) -> tuple[np.ndarray, np.ndarray]:
  """(..., C, K, F) -> ((..., C, shots, F) zero-padded, (..., C, shots) mask), K <= shots:
  a 1-shot set in the shape the encoder was built for (padding is masked out)."""
  k = support.shape[-2]
  if k > shots:
    raise ValueError(f"a {k}-shot support set is larger than the encoder's {shots} shots")
  pad = [(0, 0)] * (support.ndim - 2) + [(0, shots - k), (0, 0)]
  mask = np.broadcast_to(np.arange(shots) < k, support.shape[:-2] + (shots,))
  return np.pad(support, pad), np.ascontiguousarray(mask)
