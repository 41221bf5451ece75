"""Data-conditioned mapping end to end through the launcher at smoke size, its saved generator
reloaded in a fresh process, its loss's known answers, its in-memory training on a zoo whose
weights are a function of the condition, and its one-line refusals of bad input."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from paramgen_jax import artifact, runfiles
from paramgen_jax.errors import CorruptDataError
from paramgen_jax.integrity import tree_checksum
from paramgen_jax.methods import mapping
from paramgen_jax import params as P
from paramgen_jax.params import regression
from paramgen_jax.methods.mapping import core, flat, stages
from paramgen_jax.methods.mapping.model import weighted_mse
from paramgen_jax.zoo import spec
from tests.helpers import (assert_generated_unchanged, load_config, shared_smoke_run,
                           subprocess_env)


@pytest.mark.slow
def test_mapping_unseen_binary_smoke(smoke_root):
  workdir, result = shared_smoke_run(smoke_root, "mapping_unseen_binary")
  assert result["returncode"] == 0, result["stderr"]
  tmp_path = pathlib.Path(workdir)
  report = json.load(open(tmp_path / "report.json"))
  assert report["method"] == "mapping" and report["target"] == "mlp"
  assert len(report["seen"]) == 8 and len(report["unseen"]) == 2
  for row in report["seen"] + report["unseen"]:
    assert row["generated"]["n"] == 1 and row["original"]["n"] == 3
  baselines = report["task_baselines"]
  assert baselines["nearest seen task"]["unseen"]["n"] == 2
  for name in ("k-nearest soup", "ridge regression"):  # every generated task, both splits
    assert baselines[name]["seen"]["n"] == 8 and baselines[name]["unseen"]["n"] == 2
  for name in ("init + 1 step", "init + 2 steps", "generated + 2 steps"):
    assert baselines[name]["seen"] == {} and baselines[name]["unseen"]["n"] == 2
  assert {v["baseline"] for v in report["verdicts"]} >= {"k-nearest soup", "init + 2 steps"}
  assert report["generator"]["volume"] == [2, 128, 128]
  assert report["generator"]["parameters"] > 0 and report["generator"]["train_steps"] == 40
  assert report["generator"]["train_tasks"] == 8 and report["generator"]["condition_dim"] == 10
  assert len(report["generator"]["loss_weights"]) == 2
  assert report["inference"]["seconds_per_model"] > 0
  assert report["inference"]["memory_bytes"] > 0
  assert "mapping unseen (2 tasks): generated" in result["stdout"]
  assert_generated_unchanged(tmp_path, "mapping_unseen_binary")


@pytest.mark.slow
def test_saved_generator_makes_the_sampled_models_in_a_fresh_process(smoke_root, tmp_path):
  # The sample stage makes every target task's model in one call with SAMPLE_KEY; the saved
  # generator, loaded alone, must make the same bytes through jit(generate).
  workdir, result = shared_smoke_run(smoke_root, "mapping_unseen_binary")
  assert result["returncode"] == 0, result["stderr"]
  config = load_config("mapping_unseen_binary", "smoke")
  inputs = spec.build_zoo_inputs(spec.zoo_sections(config), workdir)
  names = stages.target_tasks(config, workdir)
  by_task = stages.task_conditions(config, workdir, [inputs.by_name[n] for n in names])
  np.save(tmp_path / "conditions.npy", np.stack([by_task[n] for n in names]).astype(np.float32))
  code = (
      "import json, jax, numpy as np\n"
      "from paramgen_jax.integrity import tree_checksum\n"
      "from paramgen_jax.methods import mapping\n"
      f"g = mapping.load({runfiles.generator_dir(workdir)!r})\n"
      f"c = np.load({str(tmp_path / 'conditions.npy')!r})\n"
      "out = jax.jit(mapping.generate, static_argnames='num_models')(\n"
      f"    g, jax.random.key({stages.SAMPLE_KEY}), c, num_models=len(c))\n"
      "print(json.dumps([tree_checksum(jax.tree_util.tree_map(lambda x: x[i:i + 1], out))\n"
      "                  for i in range(len(c))]))\n")
  found = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True,
                         text=True, timeout=600)
  assert found.returncode == 0, found.stderr[-3000:]
  generated = runfiles.load_generated(workdir)
  assert json.loads(found.stdout.splitlines()[-1]) == [tree_checksum(generated[n])
                                                      for n in names]


def test_weighted_mse_known_answer():
  # two layers of a (1, 1, 2) volume, layer 1's second column padding; weights λ = (1, 3)
  w_mask = jnp.asarray([[[True, True]], [[True, False]]])
  b_mask = jnp.asarray([[True, False], [False, False]])
  predicted = (jnp.ones((1, 2, 1, 2)), jnp.ones((1, 2, 2)), jnp.zeros((1, 2, 4)))
  target = (jnp.zeros((1, 2, 1, 2)), jnp.zeros((1, 2, 2)), jnp.ones((1, 2, 4)))
  lam = jnp.asarray([1.0, 3.0])
  loss, parts = weighted_mse(predicted, target, w_mask, b_mask, lam)
  # weights: (1·2 + 3·1) / (1·2 + 3·1) = 1; padding ignored
  np.testing.assert_allclose(parts["mse_weights"], 1.0)
  np.testing.assert_allclose(parts["mse_biases"], 1.0)
  np.testing.assert_allclose(parts["mse_stats"], 1.0)
  bigger = (predicted[0].at[0, 1, 0, 0].set(3.0),) + predicted[1:]
  _, parts = weighted_mse(bigger, target, w_mask, b_mask, lam)
  # layer 1's error 9 weighs 3: (1·2 + 3·9) / 5
  np.testing.assert_allclose(parts["mse_weights"], 29.0 / 5.0, rtol=1e-6)
  padded = (predicted[0].at[0, 1, 0, 1].set(100.0),) + predicted[1:]
  np.testing.assert_allclose(weighted_mse(padded, target, w_mask, b_mask, lam)[0], loss)


def _config(decoder="hybrid_conv", residual="none"):
  c = mapping.small_config()
  c.train.steps, c.train.batch_size, c.train.lr = 150, 8, 3e-3
  c.generator.prototype, c.generator.shapes = (2, 4, 4), ((2, 8, 8),)
  c.generator.decoder, c.generator.residual = decoder, residual
  return c


def _toy_zoo():
  """(stacked (8, ...), bits (8, 3)): a two-layer net whose weights depend on 3 condition
  bits."""
  rng = np.random.default_rng(0)
  bits = np.asarray([[int(b) for b in f"{i:03b}"] for i in range(8)], np.float32)
  base = {"a": {"kernel": rng.normal(size=(4, 6)), "bias": rng.normal(size=6)},
          "b": {"kernel": rng.normal(size=(6, 2)), "bias": rng.normal(size=2)}}
  direction = jax.tree_util.tree_map(lambda x: rng.normal(size=(3,) + x.shape), base)
  stacked = jax.tree_util.tree_map(
      lambda b, d: np.asarray(b[None] + np.tensordot(bits, d, 1), np.float32), base, direction)
  return stacked, bits


TRAIN_ROWS = np.arange(7)


@pytest.fixture(scope="module", params=[("hybrid_conv", "none"), ("mlp", "none"),
                                        ("mlp", "ridge")])
def saved(request, tmp_path_factory):
  """(generator trained on the toy zoo's first 7 models, its saved directory), per decoder
  and residual."""
  stacked, bits = _toy_zoo()
  generator = mapping.train(jax.tree_util.tree_map(lambda x: x[TRAIN_ROWS], stacked),
                            _config(*request.param), conditions=bits[TRAIN_ROWS])
  path = str(tmp_path_factory.mktemp("mapping") / "generator")
  mapping.save(generator, path)
  return generator, path


def test_learns_a_map_from_condition_to_weights(saved):
  # The mapping must reproduce an unseen condition's weights far better than the mean model.
  generator, _ = saved
  stacked, bits = _toy_zoo()
  made = mapping.generate(generator, jax.random.key(0), bits[7:], 1)
  truth = jax.tree_util.tree_map(lambda x: x[7:], stacked)
  mean = jax.tree_util.tree_map(lambda x: x[TRAIN_ROWS].mean(0, keepdims=True), stacked)
  error = lambda a: sum(float(jnp.sum((x - y) ** 2)) for x, y in zip(
      jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(truth)))
  assert error(made) < 0.5 * error(mean)
  assert generator.train_tasks == 7 and generator.loss_weights.shape == (2,)


def test_standardized_coordinates_round_trip():
  stacked, _ = _toy_zoo()
  layout = P.ParamLayout.from_template(jax.tree_util.tree_map(lambda x: x[0], stacked))
  coordinates, scale = flat.standardized(layout, stacked)
  np.testing.assert_allclose(coordinates.mean(0), 0.0, atol=1e-6)
  np.testing.assert_allclose(coordinates.std(0), 1.0, rtol=1e-5)
  restored = flat.models_from(layout, scale, coordinates)
  for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(stacked)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_ridge_residuals_of_a_zoo_linear_in_its_condition_vanish():
  # Every toy model is base + bits · direction: the held-out-task regression predicts each
  # exactly, so the residuals are 0 and the full fit reproduces an unseen task's weights.
  stacked, bits = _toy_zoo()
  layout = P.ParamLayout.from_template(jax.tree_util.tree_map(lambda x: x[0], stacked))
  train = jax.tree_util.tree_map(lambda x: x[TRAIN_ROWS], stacked)
  residuals, coefficients = regression.ridge_residuals(layout, train, bits[TRAIN_ROWS], 1e-8)
  assert coefficients.shape == (4, layout.num_params)
  for leaf in jax.tree_util.tree_leaves(residuals):
    np.testing.assert_allclose(leaf, 0.0, atol=1e-4)
  zeros = jax.tree_util.tree_map(lambda x: np.zeros_like(x[7:]), stacked)
  made = regression.add_ridge(layout, coefficients, bits[7:], zeros)
  for a, b in zip(jax.tree_util.tree_leaves(made),
                  jax.tree_util.tree_leaves(jax.tree_util.tree_map(lambda x: x[7:], stacked))):
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_load_restores_the_generator(saved):
  generator, path = saved
  loaded = mapping.load(path)
  assert tree_checksum(loaded) == tree_checksum(generator)
  assert loaded.arrangement.volume_shape == generator.arrangement.volume_shape
  assert loaded.train_tasks == 7
  bits = np.eye(3, dtype=np.float32)
  assert (tree_checksum(mapping.generate(loaded, jax.random.key(0), bits, 3))
          == tree_checksum(mapping.generate(generator, jax.random.key(1), bits, 3)))


def _one_line_error(kind, match, fn, *args):
  with pytest.raises(kind, match=match) as found:
    fn(*args)
  assert "\n" not in str(found.value)


def test_bad_conditions_are_one_line_errors(saved):
  generator, _ = saved
  key = jax.random.key(0)
  _one_line_error(ValueError, r"\(2, 3\), got \(2, 4\)", mapping.generate, generator, key,
                  np.zeros((2, 4), np.float32), 2)
  _one_line_error(ValueError, r"\(3, 3\), got \(2, 3\)", mapping.generate, generator, key,
                  np.zeros((2, 3), np.float32), 3)
  _one_line_error(ValueError, "got None", mapping.generate, generator, key, None, 1)
  stacked, bits = _toy_zoo()
  _one_line_error(ValueError, "needs conditions", mapping.train, stacked, _config())
  _one_line_error(ValueError, "N = 8 zoo models, got shape \\(5, 3\\)",
                  lambda: mapping.train(stacked, _config(), conditions=bits[:5]))


def test_altered_incomplete_or_foreign_directories_are_one_line_errors(saved, tmp_path):
  _, path = saved
  incomplete = str(tmp_path / "incomplete")
  shutil.copytree(path, incomplete)
  os.remove(os.path.join(incomplete, artifact.RECORD))
  _one_line_error(CorruptDataError, "no generator.json", mapping.load, incomplete)

  altered = str(tmp_path / "altered")
  shutil.copytree(path, altered)
  arrays = artifact.load(path).arrays
  arrays["loss_weights"] = arrays["loss_weights"] * 2
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(os.path.join(altered, artifact.ARRAYS), arrays, force=True)
  _one_line_error(CorruptDataError, "checksum", mapping.load, altered)

  foreign = str(tmp_path / "foreign")
  artifact.save(foreign, method="rpg", arrays={"x": np.zeros(3, np.float32)},
                config=_config())
  _one_line_error(CorruptDataError, "'rpg' generator", mapping.load, foreign)


def test_stats_features_invert():
  stats = jnp.asarray([[0.1, 2.0, -0.3, 0.5]])
  np.testing.assert_allclose(core.stats_from_features(core.stats_features(stats)), stats,
                             rtol=1e-6)
