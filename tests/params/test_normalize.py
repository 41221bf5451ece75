"""Per-layer and per-task normalization against NumPy re-derivations of the formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax import params as P


def collection(num=6, seed=0):
  rng = np.random.default_rng(seed)
  trees = [{"conv": {"kernel": rng.normal(0.5, 2.0, (3, 4)).astype(np.float32)},
            "batch_stats": {"bn": {"mean": rng.normal(0, 1, 4).astype(np.float32),
                                   "var": rng.uniform(0.01, 30, 4).astype(np.float32)}},
            "count": np.int32(3)} for _ in range(num)]
  layout = P.ParamLayout.from_template(trees[0])
  vectors = jnp.stack([layout.to_vector(t) for t in trees])
  return trees, layout, vectors


def test_layer_stats_match_numpy_and_rpg_log_transform():
  trees, layout, vectors = collection()
  stats = P.fit_layer_stats(vectors, layout)
  kernels = np.stack([t["conv"]["kernel"] for t in trees])
  var = np.stack([t["batch_stats"]["bn"]["var"] for t in trees]).astype(np.float64)
  premean = 0.95 * var.mean()
  logged = np.log(var / premean + 0.05)
  group = {name: i for i, name in enumerate(layout.groups)}
  np.testing.assert_allclose(stats.mean[group["conv/kernel"]], kernels.mean(), rtol=1e-5)
  np.testing.assert_allclose(stats.std[group["conv/kernel"]], kernels.std(), rtol=1e-5)
  g = group["batch_stats/bn/var"]
  np.testing.assert_allclose(stats.premean[g], premean, rtol=1e-5)
  np.testing.assert_allclose(stats.mean[g], logged.mean(), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(stats.std[g], logged.std(), rtol=1e-5)
  assert float(stats.premean[group["batch_stats/bn/mean"]]) == 1.0

  normalized = jax.vmap(lambda v: P.normalize_layers(v, stats, layout))(vectors)
  # Every layer has zero mean and unit std over the collection.
  for name, g in group.items():
    values = np.asarray(normalized)[:, layout.element_group == g]
    np.testing.assert_allclose(values.mean(), 0.0, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(values.std(), 1.0, rtol=1e-4, err_msg=name)
  back = jax.vmap(lambda v: P.denormalize_layers(v, stats, layout))(normalized)
  np.testing.assert_allclose(back, vectors, rtol=2e-6, atol=1e-6)


def test_log_inverse_clips_tiny_variances():
  trees, layout, vectors = collection()
  stats = P.fit_layer_stats(vectors, layout)
  g = layout.groups.index("batch_stats/bn/var")
  very_negative = jnp.full(layout.num_params, -50.0)
  back = P.denormalize_layers(very_negative, stats, layout)
  var_part = np.asarray(back)[layout.element_group == g]
  np.testing.assert_allclose(var_part, 0.001 * float(stats.premean[g]), rtol=1e-5)


def test_constant_layers_are_not_scaled():
  layout = P.ParamLayout.from_template({"a": jnp.zeros(3), "b": jnp.zeros(2)})
  vectors = jnp.stack([jnp.array([1.0, 1.0, 1.0, 0.0, 4.0]), jnp.array([1.0, 1.0, 1.0, 0.0, 4.0])])
  stats = P.fit_layer_stats(vectors, layout)
  np.testing.assert_allclose(stats.std, [1.0, 2.0])
  np.testing.assert_allclose(P.normalize_layers(vectors[0], stats, layout), [0, 0, 0, -1, 1])


def test_task_stats_are_per_coordinate_and_per_task():
  rng = np.random.default_rng(1)
  vectors = jnp.asarray(rng.normal(size=(9, 5)) * [1, 2, 3, 4, 5] + [0, 1, 2, 3, 4], jnp.float32)
  tasks = jnp.asarray([0, 0, 0, 1, 1, 1, 1, 2, 2])
  stats = P.fit_task_stats(vectors, tasks, num_tasks=4)
  for k in range(3):
    rows = np.asarray(vectors)[np.asarray(tasks) == k]
    np.testing.assert_allclose(stats.mean[k], rows.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats.std[k], rows.std(0), rtol=1e-4)
  np.testing.assert_array_equal(stats.mean[3], 0.0)  # a task with no checkpoint
  np.testing.assert_array_equal(stats.std[3], 1.0)
  z = jax.vmap(lambda v, t: P.normalize_task(v, t, stats))(vectors, tasks)
  for k in range(3):
    np.testing.assert_allclose(np.asarray(z)[np.asarray(tasks) == k].mean(0), 0.0, atol=1e-5)
  back = jax.vmap(lambda v, t: P.denormalize_task(v, t, stats))(z, tasks)
  np.testing.assert_allclose(back, vectors, rtol=1e-5, atol=1e-5)


def test_coordinate_normalizations():
  rng = np.random.default_rng(3)
  vectors = jnp.asarray(rng.normal(2.0, 3.0, (9, 5)), jnp.float32)
  task_ids = jnp.asarray([0, 0, 0, 1, 1, 1, 2, 2, 2])
  per_task = P.fit_coordinate_stats("task", vectors, task_ids, 3)
  reference = P.fit_task_stats(vectors, task_ids, 3)
  np.testing.assert_array_equal(per_task.mean, reference.mean)
  batch = P.fit_coordinate_stats("batch", vectors, task_ids, 3)
  assert batch.mean.shape == (3, 5)
  np.testing.assert_allclose(batch.mean[1], np.asarray(vectors).mean(0), rtol=1e-5)
  np.testing.assert_allclose(batch.std[2], np.asarray(vectors).std(0), rtol=1e-5)
  none = P.fit_coordinate_stats("none", vectors, task_ids, 3)
  np.testing.assert_array_equal(P.normalize_task(vectors[4], jnp.int32(1), none), vectors[4])
  z = jax.vmap(P.normalize_task, in_axes=(0, 0, None))(vectors, task_ids, batch)
  np.testing.assert_allclose(np.asarray(z).mean(0), 0.0, atol=1e-5)
  np.testing.assert_allclose(np.asarray(z).std(0), 1.0, rtol=1e-4)
  back = P.denormalize_task(z[7], jnp.int32(2), batch)
  np.testing.assert_allclose(back, vectors[7], rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="normalization must be one of"):
    P.fit_coordinate_stats("layer", vectors, task_ids, 3)
