"""collect -> train -> sample -> eval, driven by a config (what `launch/main.py` calls).

A method is a folder `paramgen_jax/methods/<name>/` whose `stages.py` has `SCHEMA` (its config
schema), `validate(config)` for cross-field checks, and one function per stage: `collect`,
`train`, `sample`, `evaluate`, each `(config, workdir) -> None`; `config.method` names the
folder, so adding a method edits no file here. Stages communicate only through files in the
workdir, so any stage can be re-run alone and a killed run resumes. A run holds its
workdir's lock (`rundir.hold`): a second run on the same workdir is refused at once.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from typing import Any

from paramgen_jax import configlib, hosts, rundir
from paramgen_jax.integrity import atomic_write_text

METHODS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "methods")
STAGES = ("collect", "train", "sample", "eval")
EVERY_PROCESS = ("train",)  # stages that need every process's devices (the global mesh)
MODES = STAGES + ("all",)


def known_methods() -> list[str]:
  """The methods: every folder under paramgen_jax/methods that has a stages.py."""
  return sorted(name for name in os.listdir(METHODS_DIR)
                if os.path.isfile(os.path.join(METHODS_DIR, name, "stages.py")))


def method_module(name: str):
  """The `stages` module of method `name` (ConfigError naming the known ones if none)."""
  if name not in known_methods():
    raise configlib.ConfigError(
        f"config.method: unknown method {name!r} (known: {', '.join(known_methods())})")
  return importlib.import_module(f"paramgen_jax.methods.{name}.stages")


def validate(config: Any, num_devices: int | None = None):
  """Checks `config` against its method's schema; returns the method module."""
  if "method" not in config:
    raise configlib.ConfigError("config.method: missing")
  module = method_module(config.method)
  configlib.check_config(config, module.SCHEMA)
  configlib.check_shared_sections(config, num_devices)
  module.validate(config)
  return module


def run(config: Any, workdir: str, mode: str = "all") -> None:
  """Runs one stage (or all of them, in order) of the config's method in `workdir`."""
  import jax  # imported here so that config errors are reported before JAX starts

  from paramgen_jax import runfiles

  if mode not in MODES:
    raise configlib.ConfigError(f"--mode: must be one of {', '.join(MODES)}, got {mode!r}")
  for line in configlib.fit_batches_to_devices(config, jax.device_count()):
    print(line)
  module = validate(config, jax.device_count())
  # Process 0 holds the workdir and is its only writer (`hosts`); training runs on every
  # process, the other stages on process 0 alone while the rest wait at the barrier.
  writer = hosts.is_writer()
  with rundir.hold(workdir) if writer else contextlib.nullcontext():
    if writer:
      atomic_write_text(os.path.join(workdir, runfiles.CONFIG),
                        config.to_json_best_effort(indent=2, sort_keys=True))
    for stage in STAGES if mode == "all" else (mode,):
      start = time.perf_counter()
      if writer or stage in EVERY_PROCESS:
        getattr(module, "evaluate" if stage == "eval" else stage)(config, workdir)
      hosts.barrier(f"paramgen {stage} done")
      if writer:
        runfiles.record_timing(workdir, stage, time.perf_counter() - start)
