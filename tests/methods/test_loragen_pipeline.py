"""LoRAGen end to end through the launcher at smoke size."""

import json
import os
import pathlib

import pytest

from tests.helpers import assert_generated_unchanged, shared_smoke_run


@pytest.mark.slow
def test_loragen_lora_smoke(smoke_root):
  workdir, result = shared_smoke_run(smoke_root, "loragen_lora")
  assert result["returncode"] == 0, result["stderr"]
  tmp_path = pathlib.Path(workdir)
  report = json.load(open(tmp_path / "report.json"))
  assert report["method"] == "loragen" and report["target"] == "vit_tiny_lora"
  assert len(report["seen"]) == 8 and len(report["unseen"]) == 2
  for row in report["seen"] + report["unseen"]:
    assert row["generated"]["n"] == 2 and row["original"]["n"] == 2
  baselines = report["task_baselines"]
  assert set(baselines) == {"base model (10-way head)", "average LoRA", "nearest seen task",
                            "VAE reconstruction"}
  assert baselines["nearest seen task"]["seen"] == {}
  assert baselines["nearest seen task"]["unseen"]["n"] == 2
  assert baselines["VAE reconstruction"]["seen"]["n"] == 8  # one adapter per seen task
  for name in ("vae", "diffusion"):
    assert os.path.isdir(tmp_path / name / "checkpoints")
  diagnostics = json.load(open(tmp_path / "diagnostics.json"))
  assert set(diagnostics["expert_load"]) == {"query", "value", "Dense_0"}
  # The smoke ViT has one layer: two LoRA locations (query, value).
  assert len(diagnostics["spectral_entropy"]["generated"]) == 2
  for name in ("experts.png", "spectra.png", "report.md", "conditions_descriptions.npz"):
    assert os.path.exists(tmp_path / name)
  assert "unseen (2 tasks): generated" in result["stdout"]
  assert_generated_unchanged(tmp_path, "loragen_lora")
