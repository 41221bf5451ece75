"""A run's workdir: the name of every file the stages share, and the verified store of what
they write (generated models, cached condition vectors, one model's inference cost).

    save_generated(workdir, "binary_0010000000", stacked)
    generated = load_generated(workdir)          # {task: stacked}, each verified

Every file name a stage writes or another stage reads is a constant here, so a reader finds
a workdir's layout in one place (the zoo's own files are `zoo.store`'s, a generator
directory's are `artifact`'s).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Sequence

import jax
import numpy as np

from paramgen_jax import hosts, memory
from paramgen_jax.errors import CorruptDataError, NonFiniteError
from paramgen_jax.integrity import atomic_write_json, nonfinite_sets, read_json
from paramgen_jax.train import checkpoint
from paramgen_jax.train.metrics import progress_bar
from paramgen_jax.train.recipe import count_params
from paramgen_jax.zoo import store

CONFIG = "config.json"           # the resolved config of the last run (pipeline)
TIMING = "timing.json"           # seconds per stage (pipeline; read into the report)
GENERATOR = "generator"          # the trained generator (`artifact`; the train stage)
GENERATED = "generated"          # generated/<task>/: stacked models (the sample stage)
INFERENCE = "inference.json"     # one model's generation cost (sample; read into the report)
REPORT_JSON, REPORT_MD = "report.json", "report.md"

PyTree = Any


def generator_dir(workdir: str) -> str:
  """Where the train stage saves the generator (`artifact.save`) that sample loads."""
  return os.path.join(os.path.abspath(workdir), GENERATOR)


def record_timing(workdir: str, stage: str, seconds: float) -> None:
  """Adds `stage`: seconds to workdir/timing.json."""
  path = os.path.join(workdir, TIMING)
  timing = read_json(path, "timing file") if os.path.exists(path) else {}
  timing[stage] = round(seconds, 3)
  atomic_write_json(path, timing)


def read_timing(workdir: str) -> dict:
  """workdir/timing.json ({} when absent)."""
  path = os.path.join(workdir, TIMING)
  return read_json(path, "timing file") if os.path.exists(path) else {}


def generate_for_tasks(workdir: str, tasks: Sequence[str], num_models: int,
                       make: Callable[[str, jax.Array], PyTree], key: jax.Array,
                       note: str = "") -> None:
  """Generates `num_models` models per task and saves each task's (`save_generated`).

  make(task, task_key) returns the task's stacked models; task i draws from
  fold_in(key, i). A progress bar counts the tasks.
  """
  bar = progress_bar(len(tasks), 0, f"generate {num_models} models per task{note}")
  try:
    for i, task in enumerate(tasks):
      save_generated(workdir, task, make(task, jax.random.fold_in(key, i)))
      bar.update(1)
  finally:
    bar.close()


def save_generated(workdir: str, task: str, stacked: Any) -> None:
  """Writes one task's generated models (stacked variables) to workdir/generated/<task>.

  A checksum record (`checkpoint.RECORD`) is written into the folder once Orbax has
  finished, from the arrays handed to it; `load_generated` verifies it. Models with
  non-finite parameters are saved too (the report counts them), with a warning line; when
  every model of the task is non-finite, NonFiniteError (one line) ends the stage.
  """
  path = os.path.join(os.path.abspath(workdir), GENERATED, task)
  host = jax.tree_util.tree_map(np.asarray, stacked)
  with hosts.local_checkpointer() as checkpointer:
    checkpointer.save(path, host, force=True)
    checkpointer.wait_until_finished()
  checkpoint.write_record(path, host)
  bad = nonfinite_sets(host)
  if bad.all():
    raise NonFiniteError(f"sample: all {bad.size} generated models of task {task} have "
                         f"non-finite parameters ({path}); check the generator's training")
  if bad.any():
    print(f"warning: {int(bad.sum())} of {bad.size} generated models of task {task} have "
          "non-finite parameters; the report leaves them out and counts them", file=sys.stderr)


def load_generated(workdir: str) -> dict[str, Any]:
  """Task name -> stacked generated variables, for every task in workdir/generated.

  Raises:
    CorruptDataError: a task's folder is unreadable or fails its checksum (one line naming
      the folder).
  """
  directory = os.path.join(os.path.abspath(workdir), GENERATED)
  if not os.path.isdir(directory):
    return {}
  return {task: _load_verified(workdir, task) for task in sorted(os.listdir(directory))}


def _load_verified(workdir: str, task: str) -> Any:
  path = os.path.join(os.path.abspath(workdir), GENERATED, task)
  advice = "rerun --mode=sample to generate it again"
  try:
    stacked = store.load_unit(workdir, os.path.join(GENERATED, task), "generated models")
  except CorruptDataError as e:
    raise CorruptDataError(f"{e}; {advice}") from None
  why = checkpoint.check_record(path, stacked)
  if why is not None:
    raise CorruptDataError(f"generated models {path}: {why}; {advice}")
  return stacked


def cached_vectors(path: str, names: list[str],
                   compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """{name: vector}, computed once per workdir and kept in `path` (.npz): a text encoder is
  loaded once, and the train and sample stages see identical vectors. Recomputed when the
  saved names differ from `names`."""
  if os.path.exists(path):
    saved = np.load(path)
    if list(saved["names"]) == names:
      return dict(zip(names, saved["vectors"]))
  found = compute()
  np.savez(path, names=np.asarray(names), vectors=np.stack([found[n] for n in names]))
  return found


def compiled_cost(fn: Callable, args: tuple, repeats: int) -> dict:
  """Cost of one call of `fn(*args)`: 'compile_s', 'seconds' (median of `repeats` calls of
  the compiled executable, results fetched to the host), 'times' (each call's seconds),
  'memory_bytes' (XLA's plan: arguments + outputs + temporaries) and 'memory_plan'."""
  start = time.perf_counter()
  executable = jax.jit(fn).lower(*args).compile()
  compile_s = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.device_get(executable(*args))
    times.append(time.perf_counter() - start)
  plan = memory.memory_of(executable)
  return {"compile_s": round(compile_s, 3), "seconds": float(np.median(times)),
          "times": [round(t, 5) for t in times],
          "memory_bytes": plan["temp"] + plan["argument"] + plan["output"], "memory_plan": plan}


def timing_repeats(generate_section: Any) -> int:
  """Calls timed for one model's generation cost: `generate.timing_repeats`, 3 where unset."""
  return int(generate_section.get("timing_repeats", 3))


def record_inference_cost(workdir: str, generate: Callable, generator: Any, key: jax.Array,
                          conditions: Any, repeats: int, trained: Any = None) -> dict:
  """Times one model's generation, `generate(generator, key, conditions, 1)` (conditions:
  one model's, leading axis 1, or None), and writes workdir/inference.json (read into
  report.json as 'inference' by `eval.entry.evaluate_generated`, and by the leaderboard).

  -> {'compile_s', 'seconds_per_model' (median of `repeats` compiled calls, fetched),
  'repeats', 'memory_bytes' (XLA's plan: arguments + outputs + temporaries), 'memory_plan',
  'generator_params' (entries of `trained`, the networks' parameters; default: every array
  of the generator)}.
  """
  cost = compiled_cost(lambda g, k, c: generate(g, k, c, 1), (generator, key, conditions),
                       repeats)
  found = {"compile_s": cost["compile_s"], "seconds_per_model": cost["seconds"],
           "repeats": repeats, "memory_bytes": cost["memory_bytes"],
           "memory_plan": cost["memory_plan"],
           "generator_params": count_params(generator if trained is None else trained)}
  atomic_write_json(os.path.join(workdir, INFERENCE), found)
  return found
