"""Data-conditioned mapping end to end through the launcher at smoke size, its loss's known
answers and its in-memory training on a zoo whose weights are a function of the condition."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import mapping_unseen_binary
from paramgen_jax.methods.mapping import core
from paramgen_jax.methods.mapping.model import weighted_mse
from tests.helpers import assert_generated_unchanged, shared_smoke_run


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
  assert report["task_baselines"]["nearest seen task"]["unseen"]["n"] == 2
  assert report["generator"]["volume"] == [2, 128, 128]
  assert report["generator"]["parameters"] > 0 and report["generator"]["train_steps"] == 40
  assert report["inference"]["seconds_per_model"] > 0
  assert report["inference"]["memory_bytes"] > 0
  assert "mapping unseen (2 tasks): generated" in result["stdout"]
  assert_generated_unchanged(tmp_path, "mapping_unseen_binary")


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


def _config(**changes):
  c = mapping_unseen_binary.get_config("smoke")
  c.train.steps, c.train.batch_size, c.train.lr = 150, 8, 3e-3
  for key, value in changes.items():
    section, _, name = key.rpartition(".")
    c[section][name] = value
  return c


def test_learns_a_map_from_condition_to_weights():
  # 8 "tasks": a two-layer net whose weights depend on 3 condition bits; the mapping must
  # reproduce an unseen condition's weights far better than the mean model does.
  rng = np.random.default_rng(0)
  bits = np.asarray([[int(b) for b in f"{i:03b}"] for i in range(8)], np.float32)
  base = {"a": {"kernel": rng.normal(size=(4, 6)), "bias": rng.normal(size=6)},
          "b": {"kernel": rng.normal(size=(6, 2)), "bias": rng.normal(size=2)}}
  direction = jax.tree_util.tree_map(lambda x: rng.normal(size=(3,) + x.shape), base)
  stacked = jax.tree_util.tree_map(
      lambda b, d: np.asarray(b[None] + np.tensordot(bits, d, 1), np.float32), base, direction)
  train_rows = np.arange(7)
  config = _config(**{"generator.prototype": (2, 4, 4), "generator.shapes": ((2, 8, 8),)})
  generator = core.train(jax.tree_util.tree_map(lambda x: x[train_rows], stacked),
                         bits[train_rows], config)
  made = core.generate(generator, jnp.asarray(bits[7:]))
  truth = jax.tree_util.tree_map(lambda x: x[7:], stacked)
  mean = jax.tree_util.tree_map(lambda x: x[train_rows].mean(0, keepdims=True), stacked)
  error = lambda a: sum(float(jnp.sum((x - y) ** 2)) for x, y in zip(
      jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(truth)))
  assert error(made) < 0.5 * error(mean)


def test_stats_features_invert():
  stats = jnp.asarray([[0.1, 2.0, -0.3, 0.5]])
  np.testing.assert_allclose(core.stats_from_features(core.stats_features(stats)), stats,
                             rtol=1e-6)
