"""A zoo on disk: Orbax checkpoints of stacked variables plus a manifest, one row each.

    zoo/
      zoo.json            what the zoo holds (target model, data, tasks)
      manifest.jsonl      one row per checkpoint: id, task, split, condition, seed, step,
                          val_acc, test_acc, location, index
      units/<unit>/       one Orbax checkpoint per collection unit: the variables of all its
                          checkpoints stacked on a leading axis (row['index'] picks one)

A unit's rows are appended only after its Orbax checkpoint is complete, so a collection
killed at any moment resumes by redoing just the unit it was in (`completed_units`).
`load_zoo` returns the rows and their variables stacked, in one call.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from typing import Any, Iterable

import jax
import numpy as np
import orbax.checkpoint as ocp

MANIFEST = "manifest.jsonl"
UNITS = "units"


def read_manifest(zoo_dir: str) -> list[dict]:
  path = os.path.join(zoo_dir, MANIFEST)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def completed_units(zoo_dir: str) -> set[str]:
  return {row["location"].split("/", 1)[1] for row in read_manifest(zoo_dir)}


def write_unit(zoo_dir: str, unit: str, stacked: Any, rows: list[dict]) -> None:
  """Saves one unit's stacked variables, then appends its rows (with location and index)."""
  directory = os.path.join(os.path.abspath(zoo_dir), UNITS, unit)
  if os.path.exists(directory):  # left by a run killed before its rows were written
    shutil.rmtree(directory)
  os.makedirs(os.path.dirname(directory), exist_ok=True)
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(directory, stacked)
    checkpointer.wait_until_finished()
  with open(os.path.join(zoo_dir, MANIFEST), "a") as f:
    for index, row in enumerate(rows):
      f.write(json.dumps({**row, "location": f"{UNITS}/{unit}", "index": index}) + "\n")
    f.flush()
    os.fsync(f.fileno())


def write_info(zoo_dir: str, info: dict) -> None:
  os.makedirs(zoo_dir, exist_ok=True)
  with open(os.path.join(zoo_dir, "zoo.json"), "w") as f:
    json.dump(info, f, indent=2, sort_keys=True)


def load_unit(zoo_dir: str, location: str) -> Any:
  with ocp.StandardCheckpointer() as checkpointer:
    restored = checkpointer.restore(os.path.join(os.path.abspath(zoo_dir), location))
  return jax.tree_util.tree_map(np.asarray, restored)


def load_zoo(zoo_dir: str, *, tasks: Iterable[str] | None = None,
             split: str | None = None) -> tuple[list[dict], Any]:
  """(rows, variables stacked on a leading axis in row order), optionally filtered.

  Args:
    zoo_dir: the zoo folder.
    tasks: keep only these task names.
    split: keep only 'seen' or 'unseen' rows.
  """
  rows = read_manifest(zoo_dir)
  if not rows:
    raise FileNotFoundError(f"no zoo in {zoo_dir}: run --mode=collect first")
  keep = set(tasks) if tasks is not None else None
  rows = [r for r in rows if (keep is None or r["task"] in keep)
          and (split is None or r["split"] == split)]
  if not rows:
    raise ValueError(f"no checkpoint in {zoo_dir} matches tasks={tasks} split={split}")
  pieces = []  # consecutive rows of one unit are gathered with one fancy index
  for location, group in itertools.groupby(rows, key=lambda r: r["location"]):
    index = np.asarray([r["index"] for r in group])
    pieces.append(jax.tree_util.tree_map(lambda a: a[index], load_unit(zoo_dir, location)))
  return rows, jax.tree_util.tree_map(lambda *a: np.concatenate(a), *pieces)
