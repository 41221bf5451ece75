"""RPG end to end through the launcher at smoke size: collect, train, sample, eval."""

import json
import os
import pathlib
import shutil

import pytest

from tests.helpers import assert_generated_unchanged, replace_unseen_checkpoints, shared_smoke_run
from tests.launch.test_main import launch


@pytest.mark.slow
@pytest.mark.parametrize("config, target", [("rpg_convnext", "convnext_mini"),
                                            ("rpg_vit_tiny", "vit_tiny")])
def test_rpg_smoke_pipeline(smoke_root, config, target):
  workdir, result = shared_smoke_run(smoke_root, config)
  assert result["returncode"] == 0, result["stderr"]
  tmp_path = pathlib.Path(workdir)
  report = json.load(open(tmp_path / "report.json"))
  assert report["method"] == "rpg" and report["target"] == target
  row = report["seen"][0]
  assert row["task"] == "full" and row["generated"]["n"] == 2  # generate.num_models
  assert report["similarity"]["generated"]["nn_wrong_iou"]["n"] == 2
  assert os.path.isdir(tmp_path / "generated" / "full")
  assert all(v is not None for v in report["timing_s"].values())
  if config == "rpg_convnext":
    assert_generated_unchanged(tmp_path, config)


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
      *([] if condition == "bits" else [f"--config.generator.condition={condition}"]))
  assert result["returncode"] == 0, result["stderr"]
  tmp_path = tmp_path / "run"
  shutil.copytree(workdir, tmp_path)  # changed below
  report = json.load(open(tmp_path / "report.json"))
  assert len(report["unseen"]) == 2 and all(r["generated"]["n"] == 2 for r in report["unseen"])
  assert all(r["generated"] == {} for r in report["seen"])  # generated only for unseen tasks
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
