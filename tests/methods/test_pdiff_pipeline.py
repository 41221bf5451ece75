"""p-diff / COND P-DIFF end to end through the launcher at smoke size."""

import json
import os
import pathlib

import pytest

from tests.helpers import WITHOUT_SHORT_TRAINING, assert_generated_unchanged, shared_smoke_run


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
      *([] if condition == "text" else [f"--config.generator.condition={condition}",
                                        *WITHOUT_SHORT_TRAINING]
        + (["--config.generator.unseen_stats=nearest"] if condition == "onehot" else [])))
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
  # describing conditions regress an unseen task's statistics, the λ chosen on the zoo
  assert ("unseen tasks' mean: ridge lambda" in result["stdout"]) == (condition != "onehot")
  assert_generated_unchanged(tmp_path, f"cond_pdiff_lora_{condition}")


FRESH = """
import sys, jax, numpy as np
from paramgen_jax.integrity import tree_checksum
from paramgen_jax.methods import pdiff
generator = pdiff.load(sys.argv[1])
saved, seed, count, n = np.load(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
generate = jax.jit(pdiff.generate, static_argnames="num_models")
for i in range(count):
  conditions = saved[f"c{i}"] if f"c{i}" in saved else None
  key = jax.random.fold_in(jax.random.key(seed), i)
  print(tree_checksum(generate(generator, key, conditions, num_models=n)))
"""


def _sample_inputs(workdir):
  """(config, target tasks in the sample stage's order, their conditions) of a smoke run."""
  import ml_collections

  from paramgen_jax import runfiles
  from paramgen_jax.methods.pdiff import stages
  from paramgen_jax.zoo import spec

  config = ml_collections.ConfigDict(json.load(open(os.path.join(workdir, runfiles.CONFIG))))
  inputs = spec.build_zoo_inputs(spec.zoo_sections(config), workdir)
  conditions = stages.task_conditions(config, workdir, inputs, stages.seen_names(workdir))
  return config, stages.target_tasks(config, workdir, conditions), conditions


@pytest.mark.slow
@pytest.mark.parametrize("run", ["pdiff_digits", "cond_pdiff_lora"])
def test_the_saved_generator_reproduces_the_sample_stage_in_a_fresh_process(
    smoke_root, tmp_path, run):
  import subprocess
  import sys

  import numpy as np

  from paramgen_jax import runfiles
  from paramgen_jax.integrity import tree_checksum
  from tests.helpers import subprocess_env

  workdir, result = shared_smoke_run(smoke_root, run)
  assert result["returncode"] == 0, result["stderr"]
  config, names, conditions = _sample_inputs(workdir)
  n = config.generate.num_models
  np.savez(tmp_path / "conditions.npz", **{
      f"c{i}": np.repeat(np.asarray(conditions[name])[None], n, 0)
      for i, name in enumerate(names) if conditions[name] is not None})
  found = subprocess.run(
      [sys.executable, "-c", FRESH, runfiles.generator_dir(workdir),
       str(tmp_path / "conditions.npz"), str(config.sample.seed), str(len(names)), str(n)],
      env=subprocess_env(), capture_output=True, text=True, timeout=600)
  assert found.returncode == 0, found.stderr[-3000:]
  generated = runfiles.load_generated(workdir)
  assert found.stdout.split() == [tree_checksum(generated[name]) for name in names]


def _one_line_error(error_type, fn, *args, match=""):
  with pytest.raises(error_type, match=match) as caught:
    fn(*args)
  assert "\n" not in str(caught.value), str(caught.value)


@pytest.mark.slow
def test_generate_refuses_conditions_that_do_not_fit_the_generator(smoke_root):
  import jax
  import numpy as np

  from paramgen_jax import runfiles
  from paramgen_jax.methods import pdiff

  unconditional = pdiff.load(runfiles.generator_dir(shared_smoke_run(smoke_root,
                                                                     "pdiff_digits")[0]))
  conditional = pdiff.load(runfiles.generator_dir(shared_smoke_run(smoke_root,
                                                                   "cond_pdiff_lora")[0]))
  key, width = jax.random.key(0), conditional.seen.shape[1]
  _one_line_error(ValueError, pdiff.generate, conditional, key, np.zeros((2, width - 1)), 2,
                  match="shape")
  _one_line_error(ValueError, pdiff.generate, conditional, key, np.zeros((3, width)), 2,
                  match="shape")
  _one_line_error(ValueError, pdiff.generate, conditional, key, None, 2, match="shape")
  _one_line_error(ValueError, pdiff.generate, unconditional, key, np.zeros((2, 4)), 2,
                  match="unconditional")
  _one_line_error(ValueError, pdiff.generate, unconditional, key, None, 0, match="num_models")


@pytest.mark.slow
def test_load_refuses_altered_incomplete_and_other_generators_in_one_line(smoke_root, tmp_path):
  import shutil

  import ml_collections
  import numpy as np
  import orbax.checkpoint as ocp

  from paramgen_jax import artifact, runfiles
  from paramgen_jax.errors import CorruptDataError
  from paramgen_jax.methods import pdiff

  source = runfiles.generator_dir(shared_smoke_run(smoke_root, "pdiff_digits")[0])
  altered, incomplete, codec = (str(tmp_path / name) for name in ("altered", "incomplete", "codec"))
  for path in (altered, incomplete, codec):
    shutil.copytree(source, path)
  with ocp.StandardCheckpointer() as checkpointer:  # valid arrays, other values
    arrays = checkpointer.restore(os.path.join(altered, artifact.ARRAYS))
    arrays["scale"]["std"] = np.asarray(arrays["scale"]["std"]) * 2
    checkpointer.save(os.path.join(altered, artifact.ARRAYS), arrays, force=True)
    checkpointer.wait_until_finished()
  os.remove(os.path.join(incomplete, artifact.RECORD))
  np.savez(os.path.join(codec, "codecs", "params", "codec.npz"), stats=np.zeros(3))
  other = str(tmp_path / "other")
  artifact.save(other, method="rpg", arrays={"x": np.zeros(2)},
                config=ml_collections.ConfigDict({"a": 1}))
  for path, match in ((altered, "checksum"), (incomplete, "generator.json"),
                      (codec, "codec"), (other, "'rpg' generator")):
    _one_line_error(CorruptDataError, pdiff.load, path, match=match)
