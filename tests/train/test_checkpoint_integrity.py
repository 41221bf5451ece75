"""Damaged checkpoints and generated models: refused by sample/eval, skipped by resume."""

import glob
import os
import shutil
import stat
import time

import jax
import numpy as np
import pytest

from paramgen_jax import errors
from paramgen_jax import train as T
from paramgen_jax import runfiles as common
from paramgen_jax.train import checkpoint
from tests.train.test_engine import init_params, run, train_config

# TensorStore threads of a failed read may still call back into Orbax's closed event loop
# after the read has returned; the library mutes those ("Event loop is closed") for the
# process, but pytest swaps its own unraisable hook in for every test.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _abstract(cfg):
  tx, _ = T.make_optimizer(cfg)
  return jax.eval_shape(lambda: T.TrainState.create(init_params(jax.random.key(0)), tx))


def _data_files(step_dir):
  """The files holding the state's array bytes (OCDBT's `d/` folders)."""
  files = glob.glob(os.path.join(step_dir, "state", "**", "d", "*"), recursive=True)
  assert files
  return files


def _damage(step_dir, how, other_step_dir=None):
  """Random bytes over the middle of the data files, cut or deleted data files, ..."""
  if how == "stale state":  # plausible, finite, readable numbers of another step
    shutil.rmtree(os.path.join(step_dir, "state"))
    shutil.copytree(os.path.join(other_step_dir, "state"), os.path.join(step_dir, "state"))
    return
  if how == "no record":  # a save killed after Orbax but before the record
    os.remove(os.path.join(step_dir, checkpoint.RECORD))
    return
  for path in _data_files(step_dir):
    size = os.path.getsize(path)
    if how == "random bytes":
      with open(path, "r+b") as f:
        f.seek(size // 3)
        f.write(np.random.default_rng(0).bytes(max(1, size // 3)))
    elif how == "truncated":
      os.truncate(path, size // 2)
    elif how == "deleted":
      os.remove(path)


DAMAGES = ["random bytes", "truncated", "deleted", "stale state", "no record"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A finished run (checkpoints 15 and 20) and an uninterrupted reference of it."""
  workdir = tmp_path_factory.mktemp("trained")
  return workdir, run(workdir, train_config())


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_latest_checkpoint_is_refused_in_one_line(trained, tmp_path, how):
  workdir = tmp_path / "run"
  shutil.copytree(trained[0], workdir)
  T.restore_latest(str(workdir), _abstract(train_config()))  # intact: fine
  ckpt_dir = workdir / "checkpoints"
  _damage(str(ckpt_dir / "20"), how, str(ckpt_dir / "15"))
  with pytest.raises(errors.CorruptDataError) as info:
    T.restore_latest(str(workdir), _abstract(train_config()))
  message = str(info.value)
  assert message.startswith(f"checkpoint {ckpt_dir}/20: ") and "\n" not in message
  assert "run --mode=train again" in message
  assert os.path.isdir(ckpt_dir / "20")  # sample/eval only refuse: nothing is moved


@pytest.mark.parametrize("how", DAMAGES)
def test_resume_falls_back_to_the_newest_good_checkpoint(trained, tmp_path, capfd, how):
  workdir = tmp_path / "run"
  shutil.copytree(trained[0], workdir)
  ckpt_dir = workdir / "checkpoints"
  _damage(str(ckpt_dir / "20"), how, str(ckpt_dir / "15"))
  resumed = run(workdir, train_config())
  warnings = [line for line in capfd.readouterr().err.splitlines() if "warning:" in line]
  assert len(warnings) == 1 and warnings[0].startswith(
      f"warning: checkpoint {ckpt_dir}/20 is corrupt (") and "resuming from step 15" in warnings[0]
  for a, b in zip(jax.tree_util.tree_leaves(trained[1]), jax.tree_util.tree_leaves(resumed)):
    np.testing.assert_array_equal(a, b)  # steps 16-20 redone exactly
  assert os.path.isdir(tmp_path / "run" / "checkpoints.corrupt" / "20")  # kept for a look
  T.restore_latest(str(workdir), _abstract(train_config()))  # step 20 saved again, good
  rows = T.read_metrics(str(workdir / "metrics.jsonl"))
  assert [r["step"] for r in rows] == list(range(1, 21))


def test_no_good_checkpoint_starts_from_scratch(trained, tmp_path, capfd):
  workdir = tmp_path / "run"
  shutil.copytree(trained[0], workdir)
  for step in ("15", "20"):
    _damage(str(workdir / "checkpoints" / step), "random bytes")
  resumed = run(workdir, train_config())
  warnings = [line for line in capfd.readouterr().err.splitlines() if "warning:" in line]
  assert len(warnings) == 2 and all("starting from scratch" in w for w in warnings)
  for a, b in zip(jax.tree_util.tree_leaves(trained[1]), jax.tree_util.tree_leaves(resumed)):
    np.testing.assert_array_equal(a, b)


def test_non_finite_values_in_a_checkpoint_are_bad(tmp_path):
  state = T.TrainState.create(init_params(jax.random.key(0)), T.make_optimizer(train_config())[0])
  state = state.replace(params={**state.params, "b": np.full((1,), np.nan, np.float32)})
  with T.Checkpointer(str(tmp_path / "checkpoints")) as ckpt:
    ckpt.save(3, state, force=True)  # the record matches: only the values are wrong
  with pytest.raises(errors.CorruptDataError, match=r"/3: non-finite values in params/b;"):
    T.restore_latest(str(tmp_path), _abstract(train_config()))


def test_non_finite_loss_error_is_a_run_error_naming_the_verified_checkpoint():
  error = T.NonFiniteLossError(8, float("nan"), 5, "/w/checkpoints")
  assert isinstance(error, errors.RunError)
  assert str(error) == ("non-finite loss (nan) at step 8; last good checkpoint: step 5 in "
                        "/w/checkpoints (verified)")


@pytest.mark.parametrize("how", ["read-only folder", "file in the way", "under /proc"])
def test_unwritable_checkpoints_fail_at_once(tmp_path, how):
  workdir = tmp_path
  if how == "read-only folder":
    if os.geteuid() == 0:
      pytest.skip("root writes into read-only folders; the other cases hold for root too")
    os.chmod(tmp_path, stat.S_IRUSR | stat.S_IXUSR)
  elif how == "file in the way":
    (tmp_path / "checkpoints").write_text("")  # a file where the folder must be
  else:
    workdir = "/proc/paramgen-no-such-run"  # nobody, root included, can create it
  start = time.monotonic()
  try:
    with pytest.raises(errors.RunError) as info:
      run(workdir, train_config())
  finally:
    os.chmod(tmp_path, stat.S_IRWXU)
  assert str(info.value).startswith(f"checkpoint folder {workdir}/checkpoints cannot be written: ")
  assert time.monotonic() - start < 10  # not Orbax's minutes-long wait


def test_damaged_generated_models_are_refused(tmp_path):
  stacked = {"dense": {"kernel": np.random.default_rng(0).normal(size=(4, 64, 64)),
                       "bias": np.zeros((4, 64))}}
  common.save_generated(str(tmp_path), "task_a", stacked)
  common.save_generated(str(tmp_path), "task_b", stacked)
  loaded = common.load_generated(str(tmp_path))
  assert sorted(loaded) == ["task_a", "task_b"]
  np.testing.assert_array_equal(loaded["task_b"]["dense"]["kernel"], stacked["dense"]["kernel"])
  task_dir = tmp_path / "generated" / "task_b"
  path = max((f for f in glob.glob(str(task_dir / "**"), recursive=True) if os.path.isfile(f)),
             key=os.path.getsize)
  with open(path, "r+b") as f:
    f.seek(os.path.getsize(path) // 2)
    f.write(b"\x00" * 64)
  with pytest.raises(errors.CorruptDataError) as info:
    common.load_generated(str(tmp_path))
  assert str(info.value).startswith(f"generated models {task_dir}: ")
  assert "\n" not in str(info.value)
