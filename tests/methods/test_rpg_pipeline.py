"""RPG end to end through the launcher at smoke size: collect, train, sample, eval."""

import json
import os

import pytest

from tests.launch.test_main import launch


@pytest.mark.slow
@pytest.mark.parametrize("config, target", [("rpg_convnext", "convnext_mini"),
                                            ("rpg_vit_tiny", "vit_tiny")])
def test_rpg_smoke_pipeline(tmp_path, config, target):
  result = launch(f"--config=configs/{config}.py:smoke", f"--workdir={tmp_path}")
  assert result.returncode == 0, result.stderr
  report = json.load(open(tmp_path / "report.json"))
  assert report["method"] == "rpg" and report["target"] == target
  row = report["seen"][0]
  assert row["task"] == "full" and row["generated"]["n"] == 2  # generate.num_models
  assert report["similarity"]["generated"]["nn_wrong_iou"]["n"] == 2
  assert os.path.isdir(tmp_path / "generated" / "full")
  assert all(v is not None for v in report["timing_s"].values())


def test_conditional_runs_need_binary_tasks(tmp_path):
  result = launch("--config=configs/rpg_convnext.py:smoke", f"--workdir={tmp_path}",
                  "--config.generator.condition=bits", "--config.generator.permutation=none")
  assert result.returncode == 2 and "config.generator.condition" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("condition", ["bits", "text"])
def test_conditional_rpg_generates_for_unseen_tasks(tmp_path, condition):
  result = launch("--config=configs/rpg_unseen_binary.py:smoke", f"--workdir={tmp_path}",
                  f"--config.generator.condition={condition}")
  assert result.returncode == 0, result.stderr
  report = json.load(open(tmp_path / "report.json"))
  assert len(report["unseen"]) == 2 and all(r["generated"]["n"] == 2 for r in report["unseen"])
  assert all(r["generated"] == {} for r in report["seen"])  # generated only for unseen tasks


def test_task_conditions():
  from paramgen_jax.methods.rpg import task_conditions
  rows = [{"task": "a", "condition": {"bits": [1, 0], "descriptions": ["digits one"]}},
          {"task": "a", "condition": {"bits": [1, 0], "descriptions": ["digits one"]}},
          {"task": "b", "condition": {"bits": [0, 1], "descriptions": ["digits two"]}}]
  bits = task_conditions(rows, "bits")
  assert list(bits) == ["a", "b"] and bits["b"].tolist() == [0.0, 1.0]
  text = task_conditions(rows, "text")
  assert text["a"].shape == (384,) and abs(float(text["a"] @ text["b"])) < 0.999
