"""LoRAGen end to end through the launcher at smoke size."""

import json
import os
import pathlib

import numpy as np
import pytest

from paramgen_jax.integrity import tree_checksum
from paramgen_jax.runfiles import generator_dir, load_generated
from tests.helpers import assert_generated_unchanged, run_python, shared_smoke_run


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
                            "VAE reconstruction", "k-nearest soup", "ridge regression",
                            "init + 1 step", "init + 2 steps", "generated + 2 steps"}
  for name in ("init + 1 step", "init + 2 steps", "generated + 2 steps"):  # unseen only
    assert baselines[name]["seen"] == {} and baselines[name]["unseen"]["n"] == 2
  for name in ("k-nearest soup", "ridge regression"):  # fitted on the 8 seen tasks
    assert baselines[name]["seen"]["n"] == 8 and baselines[name]["unseen"]["n"] == 2
    assert baselines[name]["chosen"]["folds"] == 8
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
  assert "loragen unseen (2 tasks): generated" in result["stdout"]
  assert_generated_unchanged(tmp_path, "loragen_lora")


@pytest.mark.slow
def test_the_saved_generator_alone_makes_the_sampled_adapters(smoke_root, tmp_path):
  """`loragen.load(<workdir>/generator)` in a fresh process, with the task's key (task i draws
  from fold_in(sample key, i)) and its condition repeated, gives the sample stage's bytes."""
  workdir, result = shared_smoke_run(smoke_root, "loragen_lora")
  assert result["returncode"] == 0, result["stderr"]
  config = json.load(open(os.path.join(workdir, "config.json")))
  saved = np.load(os.path.join(workdir, "conditions_descriptions.npz"))
  task, n = 1, config["generate"]["num_models"]
  conditions = str(tmp_path / "conditions.npy")
  np.save(conditions, np.repeat(saved["vectors"][task][None], n, axis=0))
  code = (
      "import jax, numpy as np\n"
      "from paramgen_jax.methods import loragen\n"
      "from paramgen_jax.integrity import tree_checksum\n"
      f"g = loragen.load({generator_dir(workdir)!r})\n"
      f"key = jax.random.fold_in(jax.random.key({config['sample']['seed']}), {task})\n"
      f"out = jax.jit(loragen.generate, static_argnames='num_models')(g, key, "
      f"np.load({conditions!r}), num_models={n})\n"
      "print(tree_checksum(out))\n")
  sampled = load_generated(workdir)[str(saved["names"][task])]
  assert run_python(code).strip().splitlines()[-1] == tree_checksum(sampled)
