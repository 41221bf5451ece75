"""Forward process, parameterizations and the masked loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax import diffusion as D

SCHEDULE = D.get_schedule("linear", 1000)


def test_q_sample_moments():
  x0 = jnp.full((20000, 1), 2.0)
  t = jnp.full((20000,), 300)
  noise = jax.random.normal(jax.random.key(0), x0.shape)
  x_t = D.q_sample(SCHEDULE, x0, t, noise)
  a = float(SCHEDULE.alphas_cumprod[300])
  np.testing.assert_allclose(float(x_t.mean()), 2.0 * np.sqrt(a), atol=0.02)
  np.testing.assert_allclose(float(x_t.var()), 1 - a, rtol=0.03)


@pytest.mark.parametrize("prediction", D.PREDICTIONS)
def test_exact_output_recovers_x0_and_eps(prediction):
  k1, k2 = jax.random.split(jax.random.key(1))
  x0 = jax.random.normal(k1, (6, 3))
  noise = jax.random.normal(k2, (6, 3))
  t = jnp.array([0, 1, 10, 500, 900, 999])
  x_t = D.q_sample(SCHEDULE, x0, t, noise)
  target = D.prediction_target(SCHEDULE, x0, t, noise, prediction)
  x0_hat, eps_hat = D.to_x0_and_eps(SCHEDULE, x_t, t, target, prediction)
  # x0 from ε is ill-conditioned where ᾱ_t -> 0 (x0 = (x_t - s ε) / a): compare there loosely.
  np.testing.assert_allclose(x0_hat[:4], x0[:4], atol=1e-4)
  np.testing.assert_allclose(eps_hat[1:], noise[1:], atol=1e-3)


def test_loss_ignores_masked_entries_and_is_zero_for_a_perfect_denoiser():
  x0 = jnp.ones((4, 6))
  mask = jnp.array([True] * 4 + [False] * 2)
  key = jax.random.key(3)

  def oracle(x_t, t, cond):  # knows x0, so returns the exact ε; garbage on padding
    eps = (x_t - D.extract(SCHEDULE.sqrt_alphas_cumprod, t, x_t) * x0) / D.extract(
        SCHEDULE.sqrt_one_minus_alphas_cumprod, t, x_t)
    return jnp.where(mask, eps, 1e6)

  loss, aux = D.diffusion_loss(oracle, SCHEDULE, x0, key, mask=mask)
  assert float(loss) < 1e-8
  unmasked, _ = D.diffusion_loss(oracle, SCHEDULE, x0, key)
  assert float(unmasked) > 1e10
  assert 0 <= float(aux["t_mean"]) < 1000


def test_masked_mean():
  values = jnp.array([[1.0, 2.0, 100.0]])
  assert float(D.masked_mean(values, jnp.array([True, True, False]))) == 1.5
  assert float(D.masked_mean(values, None)) == pytest.approx(103 / 3)
