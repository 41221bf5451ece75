"""Shared test helpers."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Smoke-size runs are mostly compilation: XLA's CPU backend without LLVM's optimizations
# compiles them faster (D2NWG's smoke run: 64 s of CPU against 40 s), and its older
# elemental emitters compile fusions faster than the MLIR fusion emitters (a third less CPU
# on the nn and RPG model tests). The programs are the same, only slower to run, and their
# values differ in the last bits, so a process that compares bytes with such a run compiles
# with the same flags.
FAST_COMPILE_XLA_FLAGS = ("--xla_backend_optimization_level=0 "
                          "--xla_llvm_disable_expensive_passes=true "
                          "--xla_cpu_use_fusion_emitters=false")


def subprocess_env(fast_compile: bool = True) -> dict:
  """The environment of a process the tests start as a user would run it: one CPU device
  (not conftest.py's 8 simulated ones), the repository on PYTHONPATH, the session's
  compilation cache (inherited) and, with `fast_compile`, FAST_COMPILE_XLA_FLAGS."""
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  if fast_compile:
    env["XLA_FLAGS"] = FAST_COMPILE_XLA_FLAGS
  env["PYTHONPATH"] = REPO
  return env


def load_config(name: str, arg: str | None = None):
  """get_config(arg) of configs/<name>.py, through the launcher's loader."""
  from paramgen_jax.configlib import load_config as load
  return load(f"{name}:{arg or ''}")


# Smoke runs whose zoo sections equal another run's start from a copy of that run's zoo: the
# collect stage checks zoo.json against the config (a mismatch fails the run, so this table
# cannot hide a change) and finds every unit complete. Collection itself is tested by the
# source runs and tests/zoo. Keys and values are run names (a config's name, or a name of
# PRESET_RUNS).
SMOKE_ZOO_SOURCES = {
    "rpg_convnext": "zoo_digits_convnext",
    "rpg_unseen_binary": "zoo_digits_binary",
    "mapping_unseen_binary": "zoo_digits_binary",
}
# Overrides for a smoke run that varies one option of a run the suite already makes (another
# condition): the short-training baselines, which do not depend on the generator, are left
# to the plain run.
WITHOUT_SHORT_TRAINING = ("--config.eval.train_steps=()", "--config.eval.finetune_steps=0")
# Runs of a config at another smoke-size preset (the leaderboard's entries' names).
PRESET_RUNS = {"mapping_far_binary": ("mapping_unseen_binary", "far_smoke")}


def shared_smoke_run(root, config: str, *overrides: str, name: str | None = None,
                     preset: str = "smoke"):
  """(workdir, result) of `launch/main.py --config=configs/<config>.py:<preset> <overrides>`
  in `root` (the `smoke_root` fixture: one directory for every pytest-xdist worker). The
  first test to ask runs it, under a file lock, and later ones reuse it, so a method's smoke
  run and the leaderboard built from it cost one run. A run with overrides, or whose name is
  in SMOKE_ZOO_SOURCES, starts from a copy of the zoo of the plain run of its config (or of
  its source). result: {'returncode', 'stdout', 'stderr'}. Tests that change the workdir
  copy it first.
  """
  import fcntl
  import hashlib
  import json

  from paramgen_jax.zoo.spec import copy_zoo
  from tests.launch.test_main import launch

  plain = next((run for run, spec in PRESET_RUNS.items() if spec == (config, preset)),
               config if preset == "smoke" else f"{config}_{preset}")
  name = name or plain + (("_" + hashlib.sha1(" ".join(overrides).encode()).hexdigest()[:8])
                          if overrides else "")
  workdir = os.path.join(str(root), name)
  os.makedirs(str(root), exist_ok=True)
  source = plain if overrides else SMOKE_ZOO_SOURCES.get(name)
  with open(os.path.join(str(root), f"{name}.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    path = os.path.join(str(root), f"{name}.result.json")
    if not os.path.exists(path):
      if source:
        source_config, source_preset = PRESET_RUNS.get(source, (source, "smoke"))
        from_dir, from_result = shared_smoke_run(root, source_config, preset=source_preset,
                                                 name=source)
        if from_result["returncode"] == 0:
          copy_zoo(from_dir, workdir)
      found = launch(f"--config=configs/{config}.py:{preset}", f"--workdir={workdir}",
                     *overrides)
      with open(path, "w") as f:
        json.dump({"returncode": found.returncode, "stdout": found.stdout,
                   "stderr": found.stderr}, f)
    with open(path) as f:
      return workdir, json.load(f)


def generated_moments(models) -> list[float]:
  """[mean, RMS] (float64) over every floating value of one task's generated models."""
  import jax
  import numpy as np

  values = [np.asarray(v, np.float64).ravel() for v in jax.tree_util.tree_leaves(models)
            if np.issubdtype(np.asarray(v).dtype, np.floating)]
  flat = np.concatenate(values)
  return [float(flat.mean()), float(np.sqrt(np.mean(flat**2)))]


def assert_generated_unchanged(workdir, run: str) -> None:
  """Each task's generated models in `workdir` hash exactly as recorded in
  tests/methods/smoke_generated_hashes.json for `run`, or, on a machine whose CPU rounds
  differently (another instruction set gives XLA other kernels), have the recorded mean and
  RMS within 1e-3 relative.

  A change that is meant to change generated models (a new default) records the new hashes
  and moments by running the method tests once with RECORD_SMOKE_HASHES=1 (then once more
  without, to see them reproduce); the commit says why they changed.
  """
  import json

  import numpy as np

  from paramgen_jax.integrity import tree_checksum
  from paramgen_jax.runfiles import load_generated

  path = os.path.join(REPO, "tests", "methods", "smoke_generated_hashes.json")
  generated = load_generated(str(workdir))
  got = {task: tree_checksum(models) for task, models in generated.items()}
  moments = {task: generated_moments(models) for task, models in generated.items()}
  if os.environ.get("RECORD_SMOKE_HASHES") == "1":
    _record_hashes(path, run, got, moments)
    return
  recorded = json.load(open(path))["runs"][run]
  if got == recorded["tasks"]:
    return
  assert set(got) == set(recorded["tasks"]), f"generated models of {run} changed: other tasks"
  for task, want in recorded["moments"].items():
    np.testing.assert_allclose(moments[task], want, rtol=1e-3, atol=1e-6,
                               err_msg=f"generated models of {run} changed ({task})")


def _record_hashes(path: str, run: str, hashes: dict, moments: dict) -> None:
  """Writes `hashes` and `moments` as `run`'s entry (a file lock: pytest-xdist workers write
  at once)."""
  import fcntl
  import json

  import tempfile

  with open(os.path.join(tempfile.gettempdir(), "smoke_generated_hashes.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    data = json.load(open(path))
    entry = data["runs"].setdefault(run, {})
    entry["tasks"], entry["moments"] = hashes, moments
    with open(path, "w") as f:
      json.dump(data, f, indent=1, sort_keys=True)
      f.write("\n")


def replace_unseen_checkpoints(workdir) -> int:
  """Rewrites the zoo's units with every unseen task's checkpoints replaced by other values
  (valid, verified units); returns how many checkpoints were replaced."""
  import jax
  import numpy as np

  from paramgen_jax.zoo import store

  zoo = os.path.join(str(workdir), "zoo")
  replaced = 0
  for unit, rows in store.rows_by_unit(store.read_manifest(zoo)).items():
    rows = sorted(rows, key=lambda r: r["index"])
    unseen = np.asarray([r["split"] == "unseen" for r in rows])
    if not unseen.any():
      continue
    arrays = store.load_verified_unit(zoo, unit, rows)

    def swap(leaf):
      if not np.issubdtype(leaf.dtype, np.floating):
        return leaf
      return np.where(unseen.reshape((-1,) + (1,) * (leaf.ndim - 1)), leaf * 0.5 + 0.01, leaf)
    store.write_unit(zoo, unit, jax.tree_util.tree_map(swap, arrays),
                     [{k: v for k, v in r.items() if k not in ("location", "index")} for r in rows])
    replaced += int(unseen.sum())
  return replaced


def run_python(code: str, cwd: str | None = None, timeout: int = 600, *,
               fast_compile: bool = True) -> str:
  """stdout of `python -c code` in a fresh process (`subprocess_env(fast_compile)`);
  AssertionError with the stderr's tail when it fails."""
  import subprocess
  import sys

  found = subprocess.run([sys.executable, "-c", code], cwd=cwd,
                         env=subprocess_env(fast_compile), capture_output=True, text=True,
                         timeout=timeout)
  assert found.returncode == 0, found.stderr[-3000:]
  return found.stdout
