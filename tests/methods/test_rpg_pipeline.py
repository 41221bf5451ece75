"""RPG end to end through the launcher at smoke size: collect, train, sample, eval."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from paramgen_jax import runfiles
from paramgen_jax.errors import CorruptDataError
from paramgen_jax.integrity import tree_checksum
from paramgen_jax.methods import rpg
from tests.helpers import (WITHOUT_SHORT_TRAINING, assert_generated_unchanged, load_config,
                           replace_unseen_checkpoints, shared_smoke_run, subprocess_env)
from tests.launch.test_main import launch


# One smoke run per method: RPG's other target families (configs/rpg_<family>.py) run the
# same stages on other zoos; their configs are validated (tests/test_configlib.py) and their
# largest evaluation and generation compiled within budget (tests/test_memory_plan.py).
@pytest.mark.slow
def test_rpg_smoke_pipeline(smoke_root):
  workdir, result = shared_smoke_run(smoke_root, "rpg_convnext")
  assert result["returncode"] == 0, result["stderr"]
  tmp_path = pathlib.Path(workdir)
  report = json.load(open(tmp_path / "report.json"))
  assert report["method"] == "rpg" and report["target"] == "convnext_mini"
  row = report["seen"][0]
  assert row["task"] == "full" and row["generated"]["n"] == 2  # generate.num_models
  assert report["similarity"]["generated"]["nn_wrong_iou"]["n"] == 2
  assert os.path.isdir(tmp_path / "generated" / "full")
  assert all(v is not None for v in report["timing_s"].values())
  assert_generated_unchanged(tmp_path, "rpg_convnext")


def test_conditional_runs_need_binary_tasks(tmp_path):
  result = launch("--config=configs/rpg_convnext.py:smoke", f"--workdir={tmp_path}",
                  "--config.generator.condition=bits", "--config.generator.permutation=none")
  assert result.returncode == 2 and "config.generator.condition" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("condition", ["bits", "text"])
def test_conditional_rpg_generates_for_unseen_tasks(smoke_root, tmp_path, condition):
  # bits is the config's own condition: the leaderboard's smoke run.
  workdir, result = shared_smoke_run(
      smoke_root, "rpg_unseen_binary",
      *([] if condition == "bits" else [f"--config.generator.condition={condition}",
                                        *WITHOUT_SHORT_TRAINING]))
  assert result["returncode"] == 0, result["stderr"]
  tmp_path = tmp_path / "run"
  shutil.copytree(workdir, tmp_path)  # changed below
  report = json.load(open(tmp_path / "report.json"))
  assert len(report["unseen"]) == 2 and all(r["generated"]["n"] == 2 for r in report["unseen"])
  assert all(r["generated"] == {} for r in report["seen"])  # generated only for unseen tasks
  short_training = {"init + 1 step", "init + 2 steps", "generated + 2 steps"}
  assert set(report["task_baselines"]) == {
      "nearest seen task", "k-nearest soup", "ridge regression",
      *(short_training if condition == "bits" else ())}
  assert_generated_unchanged(tmp_path, f"rpg_unseen_binary_{condition}")
  if condition == "bits":  # sample reads the saved codec, never the unseen checkpoints
    assert replace_unseen_checkpoints(tmp_path) > 0
    result = launch("--config=configs/rpg_unseen_binary.py:smoke", f"--workdir={tmp_path}",
                    f"--config.generator.condition={condition}", "--mode=sample")
    assert result.returncode == 0, result.stderr
    assert_generated_unchanged(tmp_path, f"rpg_unseen_binary_{condition}")


def test_task_conditions_follow_the_task_order():
  from paramgen_jax.methods.rpg.stages import task_conditions
  from paramgen_jax.zoo import tasks as T
  tasks = [T.binary_task(1), T.binary_task(2)]
  bits = task_conditions(tasks, "bits")
  assert list(bits) == [t.name for t in tasks] and bits[tasks[1].name][:2].tolist() == [0, 1]
  text = task_conditions(tasks, "text")
  assert text[tasks[0].name].shape == (384,)
  assert abs(float(text[tasks[0].name] @ text[tasks[1].name])) < 0.999


def _fresh_process_checksum(path: str, task_index: int, seed: int, conditions_path: str,
                            num_models: int) -> str:
  """tree_checksum of `rpg.load(path)`'s jitted generate for task `task_index`'s key
  (fold_in(key(seed), i), as the sample stage draws), in a new Python process."""
  code = (
      "import jax, numpy as np\n"
      "from paramgen_jax.methods import rpg\n"
      "from paramgen_jax.integrity import tree_checksum\n"
      f"found = dict(np.load({conditions_path!r}))\n"
      f"key = jax.random.fold_in(jax.random.key({seed}), {task_index})\n"
      f"out = jax.jit(rpg.generate, static_argnames='num_models')(rpg.load({path!r}), key, "
      f"found.get('c'), num_models={num_models})\n"
      "print(tree_checksum(out))\n")
  found = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True,
                         text=True, timeout=600)
  assert found.returncode == 0, found.stderr[-3000:]
  return found.stdout.strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.parametrize("config", ["rpg_convnext", "rpg_unseen_binary"])
def test_the_saved_generator_makes_what_sample_wrote(smoke_root, tmp_path, config):
  """load(workdir/generator) in a fresh process, jit(generate) with the sample stage's task
  key (and the task's condition per model): the bytes the sample stage saved."""
  from paramgen_jax.methods.rpg import stages
  workdir, result = shared_smoke_run(smoke_root, config)
  assert result["returncode"] == 0, result["stderr"]
  cfg = load_config(config, "smoke")
  n, split = cfg.generate.num_models, "seen" if cfg.generator.condition == "none" else "unseen"
  tasks = stages._tasks_in_manifest(cfg, workdir, split)
  index = len(tasks) - 1  # the last task: its key is fold_in(key, index), not the sample key
  conditions_path = str(tmp_path / "conditions.npz")
  if split == "seen":
    np.savez(conditions_path)
  else:
    condition = stages.task_conditions(tasks, cfg.generator.condition)[tasks[index].name]
    np.savez(conditions_path, c=np.repeat(condition[None], n, axis=0))
  got = _fresh_process_checksum(runfiles.generator_dir(workdir), index, cfg.sample.seed,
                                conditions_path, n)
  assert got == tree_checksum(runfiles.load_generated(workdir)[tasks[index].name])


@pytest.mark.slow
def test_bad_conditions_and_damaged_generators_are_one_line(smoke_root, tmp_path):
  workdir, result = shared_smoke_run(smoke_root, "rpg_unseen_binary")
  assert result["returncode"] == 0, result["stderr"]
  generator = rpg.load(runfiles.generator_dir(workdir))
  assert generator.condition_dim == 10  # bits
  for bad in (np.zeros((2, 11), np.float32), np.zeros((3, 10), np.float32), None):
    with pytest.raises(ValueError, match="conditions") as found:
      rpg.generate(generator, jax.random.key(0), bad, 2)
    assert "\n" not in str(found.value)

  def damaged(name, change):
    path = tmp_path / name
    shutil.copytree(runfiles.generator_dir(workdir), path)
    change(path)
    with pytest.raises(CorruptDataError) as found:
      rpg.load(str(path))
    assert "\n" not in str(found.value) and str(path) in str(found.value)
    return str(found.value)

  def other_method(path):
    record = json.loads((path / "generator.json").read_text())
    (path / "generator.json").write_text(json.dumps(dict(record, method="pdiff")))

  def altered(path):
    data = max((p for p in (path / "arrays").rglob("*") if p.is_file()),
               key=lambda p: p.stat().st_size)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))

  assert "not 'rpg'" in damaged("other", other_method)
  assert "no generator.json" in damaged("incomplete", lambda p: (p / "generator.json").unlink())
  damaged("altered", altered)
  damaged("no_codec", lambda p: shutil.rmtree(p / "codecs" / "tokens"))
