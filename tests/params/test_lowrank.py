"""Adapter-level losses through r×r forms agree with the explicit ΔW = A B, gradients too."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.params import lowrank


def _pair(key, d_in=12, d_out=9, r=3):
  ka, kb = jax.random.split(key)
  return (jax.random.normal(ka, (d_in, r), jnp.float64),
          jax.random.normal(kb, (r, d_out), jnp.float64))


@pytest.fixture(autouse=True)
def x64():
  with jax.enable_x64(True):
    yield


def explicit_direction(a_hat, b_hat, a, b):
  w_hat, w = a_hat @ b_hat, a @ b
  return 1.0 - jnp.sum(w_hat * w) / (jnp.linalg.norm(w_hat) * jnp.linalg.norm(w))


def explicit_spectral(a_hat, b_hat, a, b, rho, p):
  s_hat = jnp.linalg.svd(a_hat @ b_hat, compute_uv=False)[:a.shape[1]]
  s = jax.lax.stop_gradient(jnp.linalg.svd(a @ b, compute_uv=False)[:a.shape[1]])
  energy = np.asarray(s) ** 2
  k = int(np.searchsorted(np.cumsum(energy) / energy.sum(), rho - 1e-12) + 1)
  w = s[:k] / jnp.sum(s[:k])
  return jnp.sum(w * jnp.abs(s_hat[:k] - s[:k]) ** p)


def test_inner_product_and_singular_values_match_the_dense_matrix():
  a1, b1 = _pair(jax.random.key(0))
  a2, b2 = _pair(jax.random.key(1))
  np.testing.assert_allclose(lowrank.lowrank_inner(a1, b1, a2, b2), jnp.sum((a1 @ b1) * (a2 @ b2)),
                             rtol=1e-12)
  np.testing.assert_allclose(lowrank.lowrank_singular_values(a1, b1),
                             jnp.linalg.svd(a1 @ b1, compute_uv=False)[:3], rtol=1e-10)


def test_direction_loss_matches_dense_and_ignores_the_factorization():
  a_hat, b_hat = _pair(jax.random.key(2))
  a, b = _pair(jax.random.key(3))
  np.testing.assert_allclose(lowrank.direction_loss(a_hat, b_hat, a, b),
                             explicit_direction(a_hat, b_hat, a, b), rtol=1e-10)
  mix = jax.random.normal(jax.random.key(4), (3, 3), jnp.float64) + 3 * jnp.eye(3)
  # (A M)(M⁻¹ B) is the same ΔW: the loss against itself stays 0.
  np.testing.assert_allclose(lowrank.direction_loss(a @ mix, jnp.linalg.solve(mix, b), a, b), 0.0,
                             atol=1e-12)
  g = jax.grad(lowrank.direction_loss, argnums=(0, 1))(a_hat, b_hat, a, b)
  g_ref = jax.grad(explicit_direction, argnums=(0, 1))(a_hat, b_hat, a, b)
  for got, want in zip(g, g_ref):
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("rho, p", [(0.85, 1), (0.5, 2), (1.0, 1)])
def test_spectral_loss_matches_dense_svd_with_gradients(rho, p):
  a_hat, b_hat = _pair(jax.random.key(5))
  a, b = _pair(jax.random.key(6))
  got = lowrank.spectral_loss(a_hat, b_hat, a, b, rho=rho, p=p)
  np.testing.assert_allclose(got, explicit_spectral(a_hat, b_hat, a, b, rho, p), rtol=1e-9)
  g = jax.grad(lambda x, y: lowrank.spectral_loss(x, y, a, b, rho=rho, p=p), (0, 1))(a_hat, b_hat)
  g_ref = jax.grad(lambda x, y: explicit_spectral(x, y, a, b, rho, p), (0, 1))(a_hat, b_hat)
  for got_g, want in zip(g, g_ref):
    np.testing.assert_allclose(got_g, want, rtol=1e-6, atol=1e-9)


def test_energy_rank_mask_takes_the_fewest_values_reaching_rho():
  sigma = jnp.asarray([3.0, 2.0, 1.0])  # energies 9, 4, 1 of 14
  assert lowrank.energy_rank_mask(sigma, 0.6).tolist() == [True, False, False]
  assert lowrank.energy_rank_mask(sigma, 0.85).tolist() == [True, True, False]
  assert lowrank.energy_rank_mask(sigma, 0.95).tolist() == [True, True, True]


def test_spectral_entropy_known_answers_and_zero_adapter_is_finite():
  a = jnp.eye(4, 2, dtype=jnp.float64)
  np.testing.assert_allclose(lowrank.spectral_entropy(a, jnp.eye(2, 5)), np.log(2.0), rtol=1e-12)
  b1 = jnp.zeros((2, 5)).at[0, 0].set(1.0)
  np.testing.assert_allclose(lowrank.spectral_entropy(a, b1), 0.0, atol=1e-9)
  # A fresh LoRA has B = 0: the losses and their gradients stay finite.
  zero_b = jnp.zeros((2, 5))
  g = jax.grad(lambda b: lowrank.spectral_loss(a, b, a, jnp.eye(2, 5))
               + lowrank.direction_loss(a, b, a, jnp.eye(2, 5)))(zero_b)
  assert np.isfinite(np.asarray(g)).all()
