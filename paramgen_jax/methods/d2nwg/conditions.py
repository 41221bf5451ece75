"""D2NWG's conditions (`protocol.SupportSets`): built from each model's task, checked, and
brought into the shapes the networks read.

    conditions = support_conditions(task (N,), support (T, R, C, K, F), mask (T, R, C, K))
    task_ids, support, mask = by_task(conditions)      # train: one row per task again

Shapes are checked before anything runs (they are static under `jax.jit`), so a condition of
another width is one ValueError line naming the field, not an error deep in a network.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from paramgen_jax.protocol import SupportSets


def support_conditions(task: Any, support: Any, mask: Any) -> SupportSets:
  """Each model's task (N,) and the tasks' support sets (T, R, C, K, F) with their masks
  (T, R, C, K) -> `SupportSets` of the N models (their task's rows of support and mask)."""
  task = np.asarray(task)
  return SupportSets(task=task, support=np.asarray(support)[task],
                     mask=np.asarray(mask)[task])


def _shape(conditions: Mapping[str, Any], name: str) -> tuple[int, ...]:
  if name not in conditions:
    raise ValueError(f"D2NWG conditions: no '{name}' (SupportSets has task, support, mask, "
                     f"embedding; got {sorted(conditions)})")
  return tuple(np.shape(conditions[name]))


def check_support(conditions: Any, rows: int, dims: tuple[int, int, int] | None,
                  what: str) -> None:
  """Raises ValueError (one line) unless conditions holds support (rows, R, C, K, F) and
  mask (rows, R, C, K), with (C, K, F) = dims when given."""
  if not isinstance(conditions, Mapping):
    raise ValueError(f"{what}: conditions must be a SupportSets (a dict of support, mask), "
                     f"got {type(conditions).__name__}")
  support, mask = _shape(conditions, "support"), _shape(conditions, "mask")
  if len(support) != 5 or support[0] != rows or support[1] < 1:
    raise ValueError(f"{what}: support must be (N={rows}, R, C, K, F) with R >= 1, "
                     f"got {support}")
  if dims is not None and support[2:] != tuple(dims):
    raise ValueError(f"{what}: support sets of (C, K, F) = {support[2:]}, the generator was "
                     f"trained on {tuple(dims)}")
  if mask != support[:4]:
    raise ValueError(f"{what}: mask must be {support[:4]} (the support's shape without F), "
                     f"got {mask}")


def check_embedding(conditions: Mapping[str, Any], rows: int, width: int, what: str) -> None:
  """Raises ValueError (one line) unless conditions['embedding'] is (rows, width)."""
  found = _shape(conditions, "embedding")
  if found != (rows, width):
    raise ValueError(f"{what}: embedding must be (num_models={rows}, E={width}), got {found}")


def by_task(conditions: Mapping[str, Any], rows: int) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
  """Training conditions of `rows` models -> (task index (N,) int32 into the rows below,
  support (T, R, C, K, F), mask (T, R, C, K)): one row per distinct task, in task order."""
  check_support(conditions, rows, None, "train")
  task = np.asarray(conditions["task"]) if "task" in conditions else None
  if task is None or task.shape != (rows,):
    raise ValueError(f"train: conditions need task (N={rows},), each model's task; got "
                     f"{None if task is None else task.shape}")
  _, first, index = np.unique(task, return_index=True, return_inverse=True)
  return (index.reshape(-1).astype(np.int32), np.asarray(conditions["support"])[first],
          np.asarray(conditions["mask"])[first])
