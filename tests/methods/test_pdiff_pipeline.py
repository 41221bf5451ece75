"""p-diff / COND P-DIFF end to end through the launcher at smoke size."""

import json
import os
import pathlib

import pytest

from tests.helpers import assert_generated_unchanged, shared_smoke_run


@pytest.mark.slow
def test_pdiff_unconditional_smoke(smoke_root):
  workdir, result = shared_smoke_run(smoke_root, "pdiff_digits")
  assert result["returncode"] == 0, result["stderr"]
  tmp_path = pathlib.Path(workdir)
  report = json.load(open(tmp_path / "report.json"))
  assert report["method"] == "pdiff" and report["target"] == "mlp"
  assert report["seen"][0]["generated"]["n"] == 4
  selection = report["selection"]
  assert selection["seen"]["tasks"] == 1 and selection["unseen"] == {}
  for name in ("autoencoder", "diffusion"):
    assert os.path.isdir(tmp_path / name / "checkpoints")
  assert os.path.exists(tmp_path / "latents.npz")
  assert_generated_unchanged(tmp_path, "pdiff_digits")


@pytest.mark.slow
@pytest.mark.parametrize("condition, unseen", [("text", 1), ("onehot", 0), ("data", 1)])
def test_cond_pdiff_lora_smoke(smoke_root, condition, unseen):
  # text is the config's own condition: the leaderboard's smoke run.
  workdir, result = shared_smoke_run(
      smoke_root, "cond_pdiff_lora",
      *([] if condition == "text" else [f"--config.generator.condition={condition}"]))
  assert result["returncode"] == 0, result["stderr"]
  tmp_path = pathlib.Path(workdir)
  report = json.load(open(tmp_path / "report.json"))
  assert report["target"] == "vit_tiny_lora"
  assert os.path.isdir(tmp_path / "base" / "units")
  selection = report["selection"]
  assert selection["seen"]["tasks"] == 4
  assert (selection["unseen"] or {}).get("tasks", 0) == unseen  # one-hot cannot describe new tasks
  rows = [json.loads(line) for line in open(tmp_path / "zoo" / "manifest.jsonl")]
  assert all("train_acc" in r and r["condition"]["descriptions"] for r in rows)
  assert "Selected on the train split" in open(tmp_path / "report.md").read()
  cached = os.path.exists(tmp_path / f"conditions_{condition}_seed0.npz")
  assert cached == (condition != "onehot")  # describing conditions are computed once
  if unseen:
    assert "neighbour_selected" in selection["unseen"]
  assert_generated_unchanged(tmp_path, f"cond_pdiff_lora_{condition}")
