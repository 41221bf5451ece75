"""Latent denoiser: condition kinds, latent standardization, a tiny fit that denoises."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from paramgen_jax import diffusion
from paramgen_jax.methods.pdiff.model import (LatentDenoiser, LatentScale, latent_diffusion_loss,
                                              sample_latents)


def test_latent_scale_standardizes_and_inverts():
  z = jax.random.normal(jax.random.key(0), (50, 16)) * 40.0 + 7.0  # a blown-up latent
  scale = LatentScale.fit(z)
  s = scale.forward(z)
  assert abs(float(s.mean())) < 1e-4 and abs(float(s.std()) - 1.0) < 1e-4
  np.testing.assert_allclose(scale.inverse(s), z, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("kind, cond", [
    ("none", None), ("learned", jnp.asarray([0, 2])), ("onehot", jnp.eye(3)[:2]),
    ("text", jnp.ones((2, 384)))])
def test_denoiser_shapes_and_condition_use(kind, cond):
  model = LatentDenoiser(kind, num_tasks=3, embed_dim=8, encoder=(8, 16), decoder=(8,))
  z, t = jnp.ones((2, 32)), jnp.asarray([3, 500])
  params = model.init(jax.random.key(0), z, t, cond)
  out = model.apply(params, z, t, cond)
  assert out.shape == (2, 32)
  if kind == "learned":
    other = model.apply(params, z, t, jnp.asarray([1, 1]))
    assert not np.allclose(out, other)  # the task vector reaches the output


def test_conditional_latent_diffusion_learns_two_tasks():
  """Two tasks with latents ±1: after a short fit, samples follow their task's condition."""
  model = LatentDenoiser("learned", num_tasks=2, embed_dim=16, encoder=(16, 32), decoder=(16,))
  schedule = diffusion.get_schedule("linear", 100, beta_start=1e-4, beta_end=0.02)
  z0 = jnp.concatenate([jnp.ones((16, 8)), -jnp.ones((16, 8))])
  tasks = jnp.asarray([0] * 16 + [1] * 16)
  params = model.init(jax.random.key(0), z0[:2], jnp.zeros(2, jnp.int32), tasks[:2])
  tx = optax.adam(3e-3)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, key):
    grads = jax.grad(lambda p: latent_diffusion_loss(model, p, z0, tasks, key, schedule,
                                                     "x0")[0])(params)
    updates, opt = tx.update(grads, opt)
    return optax.apply_updates(params, updates), opt

  for i in range(300):
    params, opt = step(params, opt, jax.random.fold_in(jax.random.key(1), i))
  for task, sign in ((0, 1.0), (1, -1.0)):
    z = sample_latents(model, params, jnp.full((8,), task, jnp.int32), 8, 8,
                       jax.random.key(task), schedule, sampler="ddim", steps=20, prediction="x0")
    assert float(jnp.mean(z * sign)) > 0.7


def test_in_memory_training_matches_a_workdir_run_and_save_load(tmp_path):
  """train in memory == train in a workdir; each model takes its condition's statistics;
  save -> load gives the same bytes."""
  from paramgen_jax import integrity
  from paramgen_jax.methods import pdiff
  from tests.helpers import load_config

  config = load_config("pdiff_digits", "smoke")
  config.generator.condition, config.generator.normalization = "onehot", "task"
  rng = np.random.default_rng(0)
  task_ids = np.repeat([0, 1], 6)
  stacked = {"params": {"w": (rng.normal(size=(12, 5, 3)) + 10 * task_ids[:, None, None]).astype(
      np.float32), "b": rng.normal(size=(12, 3)).astype(np.float32)}}
  conditions = np.eye(2, dtype=np.float32)[task_ids]
  in_memory = pdiff.train(stacked, config, conditions=conditions)
  from_files = pdiff.train(stacked, config, conditions=conditions, workdir=str(tmp_path))
  assert in_memory.seen.tolist() == [[1.0, 0.0], [0.0, 1.0]]
  # Task 0, task 1, and a new condition nearest task 1: it borrows task 1's statistics.
  wanted = np.asarray([[1.0, 0.0], [0.0, 1.0], [0.2, 0.9]], np.float32)
  generate = jax.jit(pdiff.generate, static_argnames="num_models")
  models = generate(in_memory, jax.random.key(3), wanted, num_models=3)
  again = generate(from_files, jax.random.key(3), wanted, num_models=3)
  assert integrity.tree_checksum(models) == integrity.tree_checksum(again)
  assert models["params"]["w"].shape == (3, 5, 3)
  means = np.asarray(models["params"]["w"]).mean(axis=(1, 2))
  assert means[0] < 5 < means[1] and means[2] > 5, means  # task 1's weights sit near 10
  pdiff.save(in_memory, str(tmp_path / "generator"))
  loaded = pdiff.load(str(tmp_path / "generator"))
  assert integrity.tree_checksum(generate(loaded, jax.random.key(3), wanted, num_models=3)) == (
      integrity.tree_checksum(models))
  with pytest.raises(ValueError, match="shape"):
    pdiff.generate(loaded, jax.random.key(3), wanted[:, :1], 3)


def test_ridge_statistics_centre_a_new_task_between_seen_ones_and_survive_save_load(tmp_path):
  """generator.unseen_stats = 'ridge': seen conditions keep their task's statistics exactly; a
  new condition's centre is regressed (tasks whose weights are 10 k get ~15 at k = 1.5, where
  'nearest' takes task 2's 20); the map is saved with the generator."""
  from paramgen_jax.artifact import frozen
  from paramgen_jax.methods.pdiff import core
  from paramgen_jax.params.codec import FlatCodec
  from tests.helpers import load_config

  config = load_config("pdiff_digits", "smoke")
  config.generator.condition, config.generator.unseen_stats = "text", "ridge"
  rng = np.random.default_rng(0)
  task_ids = np.repeat([0, 1, 2], 4)
  stacked = {"w": (10.0 * task_ids[:, None] + 0.1 * rng.normal(size=(12, 6))).astype(np.float32)}
  seen = np.asarray([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]], np.float32)
  codec = FlatCodec.fit(stacked, task_ids, ("a", "b", "c"), normalization="task")
  zeros = {"w": np.zeros(1, np.float32)}
  generator = core.Generator(zeros, zeros, LatentScale(jnp.zeros(()), jnp.ones(())), seen,
                             codec, frozen(config), core.fit_stats_map(seen, codec))
  wanted = np.asarray([[1.0, 1.0], [1.5, 1.0]], np.float32)
  mean, std = core.model_stats(generator, wanted)
  np.testing.assert_array_equal(mean[0], codec.stats.mean[1])
  np.testing.assert_array_equal(std[0], codec.stats.std[1])
  assert np.all(np.abs(np.asarray(mean[1]) - 15.0) < 0.5), mean[1]
  nearest, _ = core.model_stats(generator.replace(stats_map=None), wanted)
  assert np.all(np.abs(np.asarray(nearest[1]) - 20.0) < 0.5), nearest[1]
  core.save(generator, str(tmp_path / "generator"))
  loaded = core.load(str(tmp_path / "generator"))
  for a, b in zip(core.model_stats(loaded, wanted), (mean, std)):
    np.testing.assert_array_equal(a, b)


def test_a_given_mean_lambda_is_the_mean_maps_penalty_and_the_log_std_keeps_its_own():
  from paramgen_jax.params.codec import FlatCodec
  from paramgen_jax.params.regression import Ridge, held_out_lambda
  from paramgen_jax.methods.pdiff import core

  rng = np.random.default_rng(0)
  task_ids = np.repeat(np.arange(5), 3)
  seen = rng.normal(size=(5, 2))
  stacked = {"w": (seen[task_ids] @ rng.normal(size=(2, 4))
                   + 0.1 * rng.normal(size=(15, 4))).astype(np.float32)}
  codec = FlatCodec.fit(stacked, task_ids, tuple("abcde"), normalization="task")
  means = np.asarray(codec.stats.mean, np.float64)
  log_std = np.log(np.asarray(codec.stats.std, np.float64))
  fitted = core.fit_stats_map(seen, codec, mean_lambda=1000.0)
  np.testing.assert_allclose(fitted["mean"], Ridge.fit(seen, means).coefficients(1000.0),
                             rtol=1e-5, atol=1e-6)
  own = held_out_lambda(seen, log_std)
  np.testing.assert_allclose(fitted["log_std"], Ridge.fit(seen, log_std).coefficients(own),
                             rtol=1e-5, atol=1e-6)
  by_error = core.fit_stats_map(seen, codec)["mean"]
  assert not np.allclose(by_error, fitted["mean"])
