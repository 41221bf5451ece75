"""Faults a user can cause or meet, each refused with one line naming what is wrong.

Corrupt, torn, partial, foreign or non-finite zoo data; a zoo of another config; a second run
on one workdir; bad config values; an unwritable workdir; errors at the command line.
Generator checkpoints (checksums, fallback, interrupts) are in tests/train/.
"""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from tests.helpers import REPO, load_config
from tests.launch.test_main import launch
from paramgen_jax import configlib, errors, integrity, pipeline, rundir
from paramgen_jax.eval.entry import drop_nonfinite
from paramgen_jax.zoo import spec as zoo_spec
from paramgen_jax.zoo import store


def stack(num: int, seed: int = 0, width: int = 3) -> dict:
  rng = np.random.default_rng(seed)
  return {"params": {"Dense_0": {"kernel": rng.normal(size=(num, 4, width)).astype(np.float32),
                                 "bias": rng.normal(size=(num, width)).astype(np.float32)}}}


def rows(num: int, task: str = "t0") -> list[dict]:
  return [{"id": f"u/{i}", "task": task, "split": "seen", "condition": {}, "seed": 0,
           "step": i} for i in range(num)]


def write_zoo(directory, units=("a", "b"), num=3) -> str:
  zoo = str(directory)
  for k, unit in enumerate(units):
    store.write_unit(zoo, unit, stack(num, seed=k), rows(num, task=f"t{k}"))
  return zoo


def one_line(error: BaseException) -> str:
  message = str(error)
  assert "\n" not in message, message
  return message


def largest_file(directory: str) -> str:
  files = [os.path.join(d, f) for d, _, names in os.walk(directory) for f in names]
  return max(files, key=os.path.getsize)


# -- zoo units: atomic, verified, refused with one line -----------------------------------

def test_unit_round_trips_with_its_completion_record(tmp_path):
  zoo = write_zoo(tmp_path)
  assert store.completed_units(zoo, verify_arrays=True) == {"a", "b"}
  loaded_rows, stacked = store.load_zoo(zoo)
  assert [r["task"] for r in loaded_rows] == ["t0"] * 3 + ["t1"] * 3
  expected = np.concatenate([stack(3, 0)["params"]["Dense_0"]["kernel"],
                             stack(3, 1)["params"]["Dense_0"]["kernel"]])
  np.testing.assert_array_equal(stacked["params"]["Dense_0"]["kernel"], expected)


def test_random_bytes_in_a_unit_are_refused_naming_it(tmp_path):
  zoo = write_zoo(tmp_path)
  victim = largest_file(os.path.join(zoo, "units", "b", "arrays"))
  with open(victim, "r+b") as f:
    size = os.path.getsize(victim)
    f.seek(size // 2)
    f.write(np.random.default_rng(0).bytes(min(64, size // 2)))
  with pytest.raises(errors.CorruptDataError) as info:
    store.load_zoo(zoo)
  assert "units/b" in one_line(info.value)
  assert store.completed_units(zoo, verify_arrays=True) == {"a"}  # collect redoes unit b


def test_a_unit_with_manifest_rows_missing_is_not_complete(tmp_path):
  zoo = write_zoo(tmp_path)
  path = os.path.join(zoo, store.MANIFEST)
  lines = open(path).read().splitlines(keepends=True)
  open(path, "w").writelines(lines[:-1])  # unit b loses its last row
  assert store.completed_units(zoo) == {"a"}
  with pytest.raises(errors.CorruptDataError, match="units/b: 2 manifest rows where its "
                     "record says 3"):
    store.load_zoo(zoo)


def test_a_unit_without_its_record_is_refused(tmp_path):
  zoo = write_zoo(tmp_path)
  os.remove(os.path.join(zoo, "units", "a", store.RECORD))
  with pytest.raises(errors.CorruptDataError, match="units/a: no completion record"):
    store.load_zoo(zoo, split="seen")


def test_a_torn_manifest_line_names_the_file_and_line(tmp_path):
  zoo = write_zoo(tmp_path)
  with open(os.path.join(zoo, store.MANIFEST), "a") as f:
    f.write('{"id": "c/0", "task"')
  with pytest.raises(errors.CorruptDataError, match=r"manifest.jsonl, line 7: not valid JSON"):
    store.load_zoo(zoo)


def test_a_nonfinite_checkpoint_is_refused_naming_unit_and_row(tmp_path):
  bad = stack(3)
  bad["params"]["Dense_0"]["bias"][1, 0] = np.nan
  store.write_unit(str(tmp_path), "u", bad, rows(3))
  with pytest.raises(errors.CorruptDataError, match=r"units/u, row 1 \(id u/1, task t0\): "
                     "non-finite"):
    store.load_zoo(str(tmp_path))


def test_a_unit_of_another_architecture_is_refused_naming_it(tmp_path):
  zoo = write_zoo(tmp_path, units=("a",))
  store.write_unit(zoo, "wide", stack(3, width=5), rows(3, "t9"))
  with pytest.raises(errors.ZooMismatchError, match=r"units/wide: leaf .*bias.* has shape "
                     r"\(5,\) where the zoo's model has \(3,\)"):
    store.load_zoo(zoo)
  template = jax.eval_shape(lambda: jax.tree_util.tree_map(lambda a: a[0], stack(1, width=5)))
  with pytest.raises(errors.ZooMismatchError, match="units/a"):
    store.load_zoo(zoo, template=template)


def test_rewriting_a_unit_replaces_its_rows(tmp_path):
  zoo = write_zoo(tmp_path)
  store.write_unit(zoo, "a", stack(2, seed=5), rows(2, "t0"))
  loaded, _ = store.load_zoo(zoo)
  assert [r["location"] for r in loaded].count("units/a") == 2 and len(loaded) == 5


# -- zoo.json against the config ---------------------------------------------------------

def test_a_zoo_of_another_config_is_refused_before_training(tmp_path):
  binary = zoo_spec.zoo_sections(load_config("zoo_digits_binary", "smoke"))
  convnext = zoo_spec.zoo_sections(load_config("rpg_convnext", "smoke"))
  mlp, *_ = zoo_spec.build_zoo_inputs(binary)
  directory = zoo_spec.zoo_dir(str(tmp_path))
  store.write_info(directory, zoo_spec.zoo_identity(binary, mlp))
  zoo_spec.check_zoo_info(binary, directory, mlp)  # its own config passes
  target, *_ = zoo_spec.build_zoo_inputs(convnext)
  with pytest.raises(errors.ZooMismatchError, match="was collected for target = \"mlp\", the "
                     "config has \"convnext_mini\""):
    zoo_spec.check_zoo_info(convnext, directory, target)
  os.remove(os.path.join(directory, "zoo.json"))
  with pytest.raises(errors.ZooMismatchError, match="has no zoo.json"):
    zoo_spec.check_zoo_info(convnext, directory, target)


def test_zoo_functions_take_the_zoo_sections_only():
  config = load_config("rpg_convnext", "smoke")
  with pytest.raises(TypeError, match=r"zoo sections only .*also has diffusion, generate"):
    zoo_spec.build_zoo_inputs(config)
  zoo = zoo_spec.zoo_sections(config)
  assert tuple(zoo.keys()) == tuple(sorted(zoo_spec.ZOO_SECTIONS))
  assert zoo.adapter is None and zoo.model == config.model
  with pytest.raises(AttributeError):  # locked: a typo cannot add a section
    zoo.modle = None


# -- generated models: non-finite ones counted, none finite refused ----------------------

def test_nonfinite_generated_models_are_counted_and_an_all_nan_task_refused(tmp_path):
  some = stack(4)
  some["params"]["Dense_0"]["kernel"][2] = np.inf
  kept, dropped = drop_nonfinite({"t0": some, "t1": stack(2)}, str(tmp_path))
  assert dropped == {"t0": 1, "t1": 0}
  assert kept["t0"]["params"]["Dense_0"]["kernel"].shape[0] == 3
  allnan = jax.tree_util.tree_map(lambda a: np.full_like(a, np.nan), stack(2))
  with pytest.raises(errors.NonFiniteError, match="every generated model of 1 task"):
    drop_nonfinite({"t0": some, "t2": allnan}, str(tmp_path))


# -- one run per workdir -------------------------------------------------------------------

def test_a_second_holder_of_a_workdir_is_refused_naming_the_first(tmp_path):
  with rundir.hold(str(tmp_path)):
    with pytest.raises(errors.WorkdirLockedError, match=f"in use by process {os.getpid()}"):
      with rundir.hold(str(tmp_path)):
        pass
  with rundir.hold(str(tmp_path)):  # released on exit
    pass


def test_the_lock_of_a_killed_process_is_released(tmp_path):
  holder = subprocess.Popen(
      [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]);"
       "from paramgen_jax import rundir\nwith rundir.hold(sys.argv[2]):\n"
       "  print('held', flush=True); time.sleep(60)", REPO, str(tmp_path)],
      stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline().strip() == "held"
  with pytest.raises(errors.WorkdirLockedError, match=f"process {holder.pid}"):
    with rundir.hold(str(tmp_path)):
      pass
  holder.send_signal(signal.SIGKILL)
  holder.wait()
  with rundir.hold(str(tmp_path)):
    pass


# -- config values and the workdir --------------------------------------------------------

@pytest.mark.parametrize("override, message", [
    (("train", "lr", 0.0), "config.train.lr: must be > 0.0, got 0.0"),
    (("train", "lr", float("nan")), "config.train.lr: must be a finite number, got nan"),
    (("collect", "lr", 0.0), "config.collect.lr: must be > 0.0"),
    (("eval", "noise_sigmas", (0.01, float("inf"))),
     r"config.eval.noise_sigmas\[1\]: must be a finite number"),
    (("generator", "unet_encoder", (16, 0)), "config.generator.unet_encoder: must be a list "
     "of int with at least 1 entries, each >= 1"),
])
def test_bad_config_values_are_refused_naming_the_key(override, message):
  config = load_config("rpg_convnext", "smoke")
  section, key, value = override
  with config.unlocked():
    config[section][key] = value
  with pytest.raises(configlib.ConfigError, match=message):
    pipeline.validate(config)


def test_an_unwritable_workdir_is_one_line(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  with pytest.raises(errors.RunError, match="workdir .*/file/run cannot be written: "):
    with rundir.hold(str(blocker / "run")):
      pass
  with pytest.raises(errors.RunError, match="a file of that name is in the way"):
    with rundir.hold(str(blocker)):
      pass


# -- the command line: one line, traceback in the log ------------------------------------

def test_errors_are_one_line_with_the_traceback_in_the_workdir_log(tmp_path):
  workdir = str(tmp_path / "run")
  result = launch("--config=configs/toy_gmm.py:smoke", f"--workdir={workdir}", "--mode=sample")
  assert result.returncode == 1
  lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert len(lines) == 1 and "no generator directory" in lines[0] and "--mode=train" in lines[0]
  assert "Traceback" not in result.stderr
  assert "Traceback" in open(rundir.log_path(workdir)).read()
  verbose = launch("--config=configs/toy_gmm.py:smoke", f"--workdir={workdir}",
                   "--mode=sample", "--verbose")
  assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_a_second_run_on_a_held_workdir_exits_at_once(tmp_path):
  workdir = str(tmp_path / "run")
  with rundir.hold(workdir):
    started = time.perf_counter()
    result = launch("--config=configs/toy_gmm.py:smoke", f"--workdir={workdir}")
  assert result.returncode == 1 and time.perf_counter() - started < 60
  assert f"in use by process {os.getpid()}" in result.stderr


def test_sampling_a_task_whose_models_are_all_nonfinite_ends_the_stage(tmp_path):
  from paramgen_jax import runfiles as common
  some = stack(3)
  some["params"]["Dense_0"]["bias"][0] = np.nan
  common.save_generated(str(tmp_path), "t0", some)  # saved, counted later by the report
  allnan = jax.tree_util.tree_map(lambda a: np.full_like(a, np.nan), stack(2))
  with pytest.raises(errors.NonFiniteError, match="all 2 generated models of task t1"):
    common.save_generated(str(tmp_path), "t1", allnan)
  loaded = common.load_generated(str(tmp_path))
  assert integrity.nonfinite_sets(loaded["t0"]).tolist() == [True, False, False]
