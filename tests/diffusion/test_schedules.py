"""Schedules against their closed forms."""

import math

import numpy as np
import pytest

from paramgen_jax import diffusion as D


def test_linear_schedule_closed_form():
  s = D.get_schedule("linear", 1000, beta_start=1e-4, beta_end=0.02)
  betas = np.asarray(s.betas, np.float64)
  np.testing.assert_allclose(betas[[0, 499, 999]], [1e-4, 1e-4 + 499 * (0.02 - 1e-4) / 999, 0.02],
                             rtol=1e-6)
  # ᾱ_T = Π (1 - β_t); with T=1000 and β 1e-4 -> 0.02 this is about 4.0e-5.
  expected = np.prod(1 - np.linspace(1e-4, 0.02, 1000))
  np.testing.assert_allclose(s.alphas_cumprod[-1], expected, rtol=1e-5)
  assert 3.9e-5 < expected < 4.1e-5
  np.testing.assert_allclose(np.square(s.sqrt_alphas_cumprod) + np.square(
      s.sqrt_one_minus_alphas_cumprod), 1.0, rtol=1e-6)


def test_cosine_schedule_closed_form():
  T, s_ = 1000, 0.008
  s = D.get_schedule("cosine", T)
  t = np.arange(1, T + 1)
  f = lambda u: np.cos((u / T + s_) / (1 + s_) * math.pi / 2) ** 2
  closed = f(t) / f(0)
  # β is clipped at 0.999 only at the very end, where ᾱ is ~0 anyway.
  np.testing.assert_allclose(s.alphas_cumprod[:-1], closed[:-1], rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(float(s.betas.max()), 0.999, rtol=1e-6)
  np.testing.assert_allclose(D.cosine_alphas_cumprod(T)[:10], closed[:10], rtol=1e-12)


def test_posterior_coefficients():
  s = D.get_schedule("linear", 50, beta_start=1e-3, beta_end=0.2)
  b, a, ap = (np.asarray(x, np.float64) for x in (s.betas, s.alphas_cumprod,
                                                   s.alphas_cumprod_prev))
  np.testing.assert_allclose(s.posterior_variance, b * (1 - ap) / (1 - a), rtol=1e-4)
  assert float(s.posterior_variance[0]) == 0.0
  np.testing.assert_allclose(np.exp(s.posterior_log_variance[0]), s.posterior_variance[1], rtol=1e-5)
  np.testing.assert_allclose(s.posterior_mean_coef_x0, b * np.sqrt(ap) / (1 - a), rtol=1e-4)
  np.testing.assert_allclose(s.posterior_mean_coef_xt, (1 - ap) * np.sqrt(1 - b) / (1 - a),
                             rtol=1e-4)


def test_bad_schedules():
  with pytest.raises(ValueError, match="unknown schedule"):
    D.get_schedule("sigmoid", 10)
  with pytest.raises(ValueError, match="betas"):
    D.make_schedule(np.array([0.1, 1.5]))
  with pytest.raises(ValueError, match="DDIM steps"):
    D.ddim_timesteps(10, 11)
  np.testing.assert_array_equal(D.ddim_timesteps(1000, 4), [0, 333, 666, 999])
