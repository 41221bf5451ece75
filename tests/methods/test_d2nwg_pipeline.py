"""D2NWG end to end through the launcher at smoke size, and its building blocks."""

import json
import os
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.methods.d2nwg import model as M
from paramgen_jax.methods.d2nwg import support
from paramgen_jax.zoo import tasks as tasks_lib
from tests.helpers import assert_generated_unchanged, shared_smoke_run


@pytest.mark.slow
def test_d2nwg_digits_smoke(smoke_root):
  workdir, result = shared_smoke_run(smoke_root, "d2nwg_digits")
  assert result["returncode"] == 0, result["stderr"]
  tmp_path = pathlib.Path(workdir)
  report = json.load(open(tmp_path / "report.json"))
  assert report["method"] == "d2nwg" and report["target"] == "mlp"
  assert len(report["seen"]) == 9 and len(report["unseen"]) == 3
  for row in report["seen"] + report["unseen"]:
    assert row["generated"]["n"] == 2 and row["original"]["n"] == 2
  baselines = report["task_baselines"]
  assert set(baselines) == {"nearest seen task", "support fine-tuned", "random init",
                            "VAE reconstruction", "D2NWG, 1-shot support", "class-column soup",
                            "k-nearest soup", "ridge regression", "init + 1 step",
                            "init + 2 steps", "generated + 2 steps"}
  for name in ("class-column soup", "k-nearest soup", "ridge regression"):
    assert baselines[name]["seen"]["n"] == 9 and baselines[name]["unseen"]["n"] == 3
  assert {"k", "loto_val"} <= set(baselines["k-nearest soup"]["chosen"])
  assert "by leave-one-task-out" in (tmp_path / "report.md").read_text()
  for name in ("nearest seen task", "support fine-tuned", "random init",
               "D2NWG, 1-shot support", "init + 1 step", "init + 2 steps",
               "generated + 2 steps"):
    assert baselines[name]["seen"] == {} and baselines[name]["unseen"]["n"] == 3
  assert baselines["VAE reconstruction"]["seen"]["n"] == 9
  for name in ("vae", "align", "diffusion"):
    assert os.path.isdir(tmp_path / name / "checkpoints")
  assert os.path.isdir(tmp_path / "backbone") and os.path.isdir(tmp_path / "generator" / "codecs")
  assert "d2nwg unseen (3 tasks): generated" in result["stdout"]
  assert_generated_unchanged(tmp_path, "d2nwg_digits")


@pytest.mark.slow
def test_held_out_digit_is_in_every_unseen_task_and_no_seen_one_nor_the_extractor(smoke_root):
  workdir, result = shared_smoke_run(smoke_root, "d2nwg_held_out")
  assert result["returncode"] == 0, result["stderr"]
  report = json.load(open(os.path.join(workdir, "report.json")))
  classes = {split: [tasks_lib.subset_task(map(int, row["task"].split("_")[1:]))
                     .condition["classes"] for row in report[split]]
             for split in ("seen", "unseen")}
  assert len(classes["seen"]) == 8 and len(classes["unseen"]) == 2
  assert all(9 not in c for c in classes["seen"]) and all(9 in c for c in classes["unseen"])
  assert report["task_baselines"]["class-column soup"]["unseen"]["n"] == 2
  backbone = json.load(open(os.path.join(workdir, "backbone", "zoo.json")))
  assert backbone["held_out_classes"] == [9]
  assert "d2nwg unseen (2 tasks): generated" in result["stdout"]


def test_support_sets_group_classes_in_label_order():
  task = tasks_lib.subset_task([7, 2, 5])
  labels = np.repeat(np.arange(10), 6)
  idx = support.support_indices(labels, task, 3, (0, 4, 1))
  assert idx.shape == (3, 3)
  assert [set(labels[row]) for row in idx] == [{2}, {5}, {7}]
  again = support.support_indices(labels, task, 3, (0, 4, 1))
  np.testing.assert_array_equal(idx, again)
  other = support.support_indices(labels, task, 3, (0, 4, 2))
  assert not np.array_equal(idx, other)
  feats = np.arange(60, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)
  sets = support.support_sets(feats, labels, [task], [4], 3, 2, 0)
  assert sets.shape == (1, 2, 3, 3, 4)


def test_pad_shots_masks_the_missing_shots():
  x = np.ones((2, 5, 1, 3), np.float32)
  padded, mask = support.pad_shots(x, 4)
  assert padded.shape == (2, 5, 4, 3) and mask.shape == (2, 5, 4)
  assert mask[..., 0].all() and not mask[..., 1:].any() and padded[..., 1:, :].sum() == 0
  with pytest.raises(ValueError, match="larger than the encoder's 4 shots"):
    support.pad_shots(np.ones((5, 6, 3)), 4)


def test_clip_loss_known_answers():
  eye = jnp.eye(4)
  same = M.task_targets(jnp.arange(4))
  # Matched orthonormal embeddings at τ -> 0: the loss goes to zero.
  assert float(M.clip_loss(eye, eye, 0.01, same)) < 1e-6
  # Equal embeddings for every row (collapse): the loss is log(batch) for identity targets.
  flat = jnp.ones((4, 3)) / np.sqrt(3)
  np.testing.assert_allclose(M.clip_loss(flat, flat, 0.1, same), np.log(4), rtol=1e-6)
  # ... and the official soft targets are uniform there too, so collapse is a fixed point.
  np.testing.assert_allclose(M.clip_loss(flat, flat, 0.1), np.log(4), rtol=1e-6)
  # Two rows of one task share their targets.
  task = M.task_targets(jnp.asarray([3, 3, 5]))
  w = jnp.asarray([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
  assert float(M.clip_loss(w, w, 0.01, task)) == pytest.approx(np.log(2) * 2 / 3, rel=1e-4)
  # Latent targets: equal latents share a row's mass, orthogonal ones get ~none at τ 0.01.
  np.testing.assert_allclose(M.latent_targets(w, 0.01), task / task.sum(1, keepdims=True),
                             atol=1e-6)


FRESH = """
import sys, jax, numpy as np
from paramgen_jax.integrity import tree_checksum
from paramgen_jax.methods import d2nwg
from paramgen_jax.methods.d2nwg import stages, support
from paramgen_jax.zoo import spec
from tests.helpers import load_config
workdir, generator_dir = sys.argv[1:3]
config = load_config("d2nwg_digits", "smoke")
generator = d2nwg.load(generator_dir)
feats, labels, _ = support.image_features(config, workdir, train=False)
inputs = spec.build_zoo_inputs(spec.zoo_sections(config), workdir)
names = list(spec.manifest_splits(workdir))
rows = stages.task_conditions(config, generator, feats, labels, inputs, names,
                              config.support.shots)
key, n = stages.job_key(config, 0, config.support.shots), config.generate.num_models
generate = jax.jit(d2nwg.generate, static_argnames="num_models")
for i, name in enumerate(names):
  conditions = {k: np.repeat(v[i:i + 1], n, 0) for k, v in rows.items()}
  print(name, tree_checksum(generate(generator, jax.random.fold_in(key, i), conditions,
                                     num_models=n)))
"""


@pytest.mark.slow
def test_the_saved_generator_makes_the_sample_stages_models_in_a_fresh_process(smoke_root):
  import subprocess
  import sys

  from paramgen_jax import runfiles
  from paramgen_jax.integrity import tree_checksum
  from tests.helpers import subprocess_env

  workdir, _ = shared_smoke_run(smoke_root, "d2nwg_digits")
  found = subprocess.run([sys.executable, "-c", FRESH, workdir, runfiles.generator_dir(workdir)],
                         env=subprocess_env(), capture_output=True, text=True,
                         timeout=600)
  assert found.returncode == 0, found.stderr[-3000:]
  generated = runfiles.load_generated(workdir)
  assert dict(line.split() for line in found.stdout.strip().splitlines()) == {
      name: tree_checksum(models) for name, models in generated.items()}


def _one_line_error(error_type, fn, *args, match=""):
  with pytest.raises(error_type, match=match) as caught:
    fn(*args)
  assert "\n" not in str(caught.value), str(caught.value)


def test_generate_refuses_conditions_that_do_not_fit_the_generator():
  import jax

  from paramgen_jax import artifact
  from paramgen_jax.methods import d2nwg
  from paramgen_jax.methods.d2nwg import core
  from tests.helpers import load_config

  # shapes are checked before any parameter is read: a generator without arrays will do
  config = artifact.frozen(load_config("d2nwg_digits", "smoke"))
  generator = core.Generator(None, None, None, core.Scale(None, None), config, (),
                             (256, 32, 1, 5, 5, 64))
  key, ok = jax.random.key(0), np.zeros((2, 1, 5, 5, 64), np.float32)
  mask = np.ones((2, 1, 5, 5), bool)
  for conditions, match in (
      ({"support": ok[..., :63], "mask": mask}, r"\(C, K, F\) = \(5, 5, 63\)"),
      ({"support": ok[:, :, :4], "mask": mask[:, :, :4]}, "trained on"),
      ({"support": ok[:1], "mask": mask[:1]}, r"\(N=2, R, C, K, F\)"),
      ({"support": ok, "mask": mask[..., :4]}, "mask must be"),
      ({"mask": mask}, "no 'support'"),
      ({"embedding": np.zeros((2, 15), np.float32)}, r"\(num_models=2, E=16\)"),
      (ok, "must be a SupportSets"),
      (None, "must be a SupportSets")):
    _one_line_error(ValueError, d2nwg.generate, generator, key, conditions, 2, match=match)
  _one_line_error(ValueError, d2nwg.generate, generator, key, None, 0, match="num_models")
  _one_line_error(ValueError, d2nwg.train, {"w": np.zeros((2, 3))}, config.as_configdict(),
                  match="pass conditions")


def _alter_arrays(path):
  import orbax.checkpoint as ocp

  from paramgen_jax import artifact

  arrays = artifact.load(path).arrays
  arrays["scale"]["mean"] = arrays["scale"]["mean"] + 1  # readable, other values
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(os.path.join(path, artifact.ARRAYS), arrays, force=True)


def _rename_method(path):
  record = json.load(open(os.path.join(path, "generator.json")))
  json.dump(dict(record, method="rpg"), open(os.path.join(path, "generator.json"), "w"))


DAMAGES = {
    "altered arrays": (_alter_arrays, "checksum"),
    "unfinished save": (lambda path: os.remove(os.path.join(path, "generator.json")),
                        "no generator.json"),
    "altered codec": (lambda path: np.savez(os.path.join(path, "codecs", "0", "codec.npz"),
                                            stats=np.ones(2)), "codec"),
    "another method's": (_rename_method, "'rpg' generator"),
}


@pytest.mark.slow
@pytest.mark.parametrize("damage", DAMAGES)
def test_load_refuses_a_damaged_or_foreign_generator_in_one_line(smoke_root, tmp_path, damage):
  import shutil

  from paramgen_jax import runfiles
  from paramgen_jax.errors import CorruptDataError
  from paramgen_jax.methods import d2nwg

  path = str(tmp_path / "generator")
  shutil.copytree(runfiles.generator_dir(shared_smoke_run(smoke_root, "d2nwg_digits")[0]), path)
  alter, match = DAMAGES[damage]
  alter(path)
  _one_line_error(CorruptDataError, d2nwg.load, path, match=match)


def test_support_conditions_give_back_each_tasks_support_sets_for_training():
  from paramgen_jax.methods.d2nwg import conditions

  support_sets = np.arange(3 * 2 * 2 * 1 * 4, dtype=np.float32).reshape(3, 2, 2, 1, 4)
  mask = np.ones((3, 2, 2, 1), bool)
  task = np.asarray([2, 0, 0, 2, 1])
  found = conditions.support_conditions(task, support_sets, mask)
  assert found["support"].shape == (5, 2, 2, 1, 4) and found["mask"].shape == (5, 2, 2, 1)
  index, by_task, by_task_mask = conditions.by_task(found, 5)
  np.testing.assert_array_equal(index, task)
  np.testing.assert_array_equal(by_task, support_sets)
  np.testing.assert_array_equal(by_task_mask, mask)
  with pytest.raises(ValueError, match=r"task \(N=5,\)"):
    conditions.by_task({k: v for k, v in found.items() if k != "task"}, 5)
