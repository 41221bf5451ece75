"""A zoo on disk: Orbax checkpoints of stacked variables plus a manifest, one row each.

    zoo/
      zoo.json            what the zoo holds (target model, data, tasks)
      manifest.jsonl      one row per checkpoint: id, task, split, condition, seed, step,
                          val_acc, test_acc, location, index
      units/<unit>/       one collection unit:
        arrays/           Orbax checkpoint of all its checkpoints' variables, stacked on a
                          leading axis (row['index'] picks one)
        unit.json         the completion record, written last: row count, checksum of the
                          arrays, leaf shapes

A unit is complete only when its record exists and matches both its arrays and its manifest
rows; `write_unit` writes arrays, then rows, then the record, each atomically, so a collection
killed at any moment resumes by redoing just the unit it was in (`completed_units`). Readers
refuse an incomplete or altered unit with one line naming it (`CorruptDataError`), and
`load_zoo` also refuses a checkpoint whose variables do not fit the zoo's layout or hold a
NaN or an infinity, naming its unit and row.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from typing import Any, Iterable

import jax
import numpy as np

from paramgen_jax import hosts
from paramgen_jax.errors import CorruptDataError, ZooMismatchError
from paramgen_jax.integrity import (atomic_write_json, atomic_write_text, nonfinite_sets,
                                    read_json, tree_checksum)
from paramgen_jax.train.checkpoint import read_quietly

MANIFEST = "manifest.jsonl"
UNITS = "units"
ARRAYS = "arrays"
RECORD = "unit.json"
RECOLLECT = "run --mode=collect to collect it again"


def read_manifest(zoo_dir: str) -> list[dict]:
  """The manifest's rows; a line that is not JSON is a `CorruptDataError` naming it."""
  path = os.path.join(zoo_dir, MANIFEST)
  if not os.path.exists(path):
    return []
  rows = []
  with open(path) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        rows.append(json.loads(line))
      except json.JSONDecodeError as e:
        raise CorruptDataError(f"zoo manifest {path}, line {number}: not valid JSON "
                               f"({e.msg}); {RECOLLECT}") from None
  return rows


def unit_of(row: dict) -> str:
  return row["location"].split("/", 1)[1]


def read_record(zoo_dir: str, unit: str) -> dict | None:
  path = os.path.join(zoo_dir, UNITS, unit, RECORD)
  if not os.path.exists(path):
    return None
  try:
    return read_json(path, "zoo unit record")
  except ValueError:
    return None


def unit_problem(zoo_dir: str, unit: str, rows: list[dict],
                 arrays: Any | None = None) -> str | None:
  """Why `unit` is not complete (record missing, rows missing, checksum), or None."""
  record = read_record(zoo_dir, unit)
  if record is None:
    return "no completion record (its collection did not finish)"
  if record.get("rows") != len(rows):
    return f"{len(rows)} manifest rows where its record says {record.get('rows')}"
  if arrays is not None and tree_checksum(arrays) != record.get("checksum"):
    return "its arrays do not match the checksum in its record (changed after collection)"
  return None


def rows_by_unit(rows: list[dict]) -> dict[str, list[dict]]:
  """Unit name -> its rows, in manifest order."""
  grouped: dict[str, list[dict]] = {}
  for row in rows:
    grouped.setdefault(unit_of(row), []).append(row)
  return grouped


def completed_units(zoo_dir: str, *, verify_arrays: bool = False) -> set[str]:
  """Units whose record matches their rows (and, with `verify_arrays`, their arrays)."""
  done = set()
  for unit, rows in rows_by_unit(read_manifest(zoo_dir)).items():
    arrays = None
    if verify_arrays:
      try:
        arrays = _restore(zoo_dir, unit)
      except CorruptDataError:
        continue
    if unit_problem(zoo_dir, unit, rows, arrays) is None:
      done.add(unit)
  return done


def write_unit(zoo_dir: str, unit: str, stacked: Any, rows: list[dict]) -> None:
  """Saves one unit: its stacked variables, then its rows, then its completion record."""
  directory = os.path.join(os.path.abspath(zoo_dir), UNITS, unit)
  if os.path.exists(directory):  # left by a killed run, or failing its check: redone whole
    shutil.rmtree(directory)
  os.makedirs(directory)
  host = jax.tree_util.tree_map(np.asarray, stacked)
  with hosts.local_checkpointer() as checkpointer:
    checkpointer.save(os.path.join(directory, ARRAYS), host)
    checkpointer.wait_until_finished()
  location = f"{UNITS}/{unit}"
  kept = [r for r in read_manifest(zoo_dir) if r["location"] != location]
  added = [{**row, "location": location, "index": index} for index, row in enumerate(rows)]
  atomic_write_text(os.path.join(zoo_dir, MANIFEST),
                    "".join(json.dumps(r) + "\n" for r in kept + added))
  leaves = {jax.tree_util.keystr(path): [list(np.shape(leaf)), str(np.asarray(leaf).dtype)]
            for path, leaf in jax.tree_util.tree_flatten_with_path(host)[0]}
  atomic_write_json(os.path.join(directory, RECORD),
                    {"unit": unit, "rows": len(rows), "checksum": tree_checksum(host),
                     "leaves": leaves})


def write_info(zoo_dir: str, info: dict) -> None:
  os.makedirs(zoo_dir, exist_ok=True)
  atomic_write_json(os.path.join(zoo_dir, "zoo.json"), info)


def read_info(zoo_dir: str) -> dict | None:
  path = os.path.join(zoo_dir, "zoo.json")
  if not os.path.exists(path):
    return None
  try:
    return read_json(path, "zoo description")
  except ValueError as e:
    raise CorruptDataError(str(e)) from None


def load_unit(zoo_dir: str, location: str, what: str = "zoo unit") -> Any:
  """The arrays of an Orbax checkpoint directory `zoo_dir/location`, as NumPy (unverified).

  Raises CorruptDataError ('<what> <path>: unreadable (<cause>)') when Orbax cannot read it.
  """
  path = os.path.join(os.path.abspath(zoo_dir), location)

  def read():
    with hosts.local_checkpointer() as checkpointer:
      return checkpointer.restore(path)

  restored, why = read_quietly(read)
  if why is not None:
    raise CorruptDataError(f"{what} {path}: {why}")
  return jax.tree_util.tree_map(np.asarray, restored)


def _restore(zoo_dir: str, unit: str) -> Any:
  try:
    return load_unit(zoo_dir, f"{UNITS}/{unit}/{ARRAYS}")
  except CorruptDataError as e:
    raise CorruptDataError(f"{e}; {RECOLLECT}") from None


def load_verified_unit(zoo_dir: str, unit: str, rows: list[dict]) -> Any:
  """A unit's stacked arrays after checking its record, rows and checksum."""
  name = os.path.join(zoo_dir, UNITS, unit)
  problem = unit_problem(zoo_dir, unit, rows)
  if problem is None:
    arrays = _restore(zoo_dir, unit)
    problem = unit_problem(zoo_dir, unit, rows, arrays)
  if problem is not None:
    raise CorruptDataError(f"zoo unit {name}: {problem}; {RECOLLECT}")
  return arrays


def check_layout(arrays: Any, reference: Any, what: str) -> None:
  """Each leaf of `arrays` (stacked) must have the path and shape of `reference` (one set)."""
  got = {jax.tree_util.keystr(p): tuple(np.shape(a)[1:])
         for p, a in jax.tree_util.tree_flatten_with_path(arrays)[0]}
  want = {jax.tree_util.keystr(p): tuple(np.shape(a))
          for p, a in jax.tree_util.tree_flatten_with_path(reference)[0]}
  for path in sorted(set(got) | set(want)):
    if got.get(path) != want.get(path):
      raise ZooMismatchError(
          f"{what}: leaf {path} has shape {got.get(path, 'none')} where the "
          f"zoo's model has {want.get(path, 'none')} (a unit of another architecture?)")


def _check_finite(arrays: Any, rows: list[dict], unit_path: str) -> None:
  bad = np.flatnonzero(nonfinite_sets(arrays))
  if bad.size:
    row = rows[bad[0]]
    raise CorruptDataError(
        f"zoo unit {unit_path}, row {row['index']} (id {row['id']}, task {row['task']}): "
        f"non-finite values in its variables ({bad.size} such row(s) in the unit)")


def load_zoo(zoo_dir: str, *, tasks: Iterable[str] | None = None,
             split: str | None = None, template: Any = None) -> tuple[list[dict], Any]:
  """(rows, variables stacked on a leading axis in row order), optionally filtered.

  Every unit read is verified (record, rows, checksum); every checkpoint returned must fit
  the layout of `template` (one set of variables, arrays or ShapeDtypeStructs; default: the
  first unit read) and be finite.

  Args:
    zoo_dir: the zoo folder.
    tasks: keep only these task names.
    split: keep only 'seen' or 'unseen' rows.
    template: the variables of one model of the zoo's architecture.
  """
  all_rows = read_manifest(zoo_dir)
  if not all_rows:
    raise FileNotFoundError(f"no zoo in {zoo_dir}: run --mode=collect first")
  keep = set(tasks) if tasks is not None else None
  rows = [r for r in all_rows if (keep is None or r["task"] in keep)
          and (split is None or r["split"] == split)]
  if not rows:
    raise ValueError(f"no checkpoint in {zoo_dir} matches tasks={tasks} split={split}")
  unit_rows = rows_by_unit(all_rows)
  pieces = []  # consecutive rows of one unit are gathered with one fancy index
  for location, group in itertools.groupby(rows, key=lambda r: r["location"]):
    unit = location.split("/", 1)[1]
    arrays = load_verified_unit(zoo_dir, unit, unit_rows[unit])
    unit_path = os.path.join(zoo_dir, location)
    if template is None:
      template = jax.tree_util.tree_map(lambda a: a[0], arrays)
    check_layout(arrays, template, f"zoo unit {unit_path}")
    index = np.asarray([r["index"] for r in group])
    picked = jax.tree_util.tree_map(lambda a: a[index], arrays)
    _check_finite(picked, [unit_rows[unit][i] for i in index], unit_path)
    pieces.append(picked)
  return rows, jax.tree_util.tree_map(lambda *a: np.concatenate(a), *pieces)
