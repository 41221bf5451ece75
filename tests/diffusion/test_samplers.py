"""Samplers: determinism, DDIM(η=1, all steps) = DDPM, and a 1-D mixture recovered."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax import diffusion as D
from tests.helpers import load_config, run_python

SCHEDULE = D.get_schedule("linear", 100, beta_start=1e-3, beta_end=0.1)


def toy_denoiser(x_t, t, cond):
  """A fixed, nonlinear ε-model: enough to make samplers' arithmetic visible."""
  scale = D.extract(SCHEDULE.sqrt_one_minus_alphas_cumprod, t, x_t)
  return jnp.tanh(x_t) * scale + 0.1 * (0.0 if cond is None else cond)


def test_ddim_eta0_is_deterministic_given_x_T():
  x_T = jax.random.normal(jax.random.key(0), (5, 3))
  run = jax.jit(lambda k, e: D.ddim_sample(toy_denoiser, SCHEDULE, (5, 3), k, steps=10, eta=e,
                                           x_T=x_T))
  a, b = run(jax.random.key(1), 0.0), run(jax.random.key(2), 0.0)
  np.testing.assert_array_equal(a, b)
  c, d = run(jax.random.key(1), 1.0), run(jax.random.key(2), 1.0)
  assert float(jnp.abs(c - d).max()) > 1e-3
  np.testing.assert_array_equal(c, run(jax.random.key(1), 1.0))  # same key, same sample


def test_ddim_with_eta1_and_every_step_is_ddpm():
  key = jax.random.key(4)
  cond = jnp.ones((6, 2))
  ddpm = D.ddpm_sample(toy_denoiser, SCHEDULE, (6, 2), key, cond=cond)
  ddim = D.ddim_sample(toy_denoiser, SCHEDULE, (6, 2), key, cond=cond, steps=100, eta=1.0)
  np.testing.assert_allclose(ddim, ddpm, rtol=1e-4, atol=1e-4)


def test_sample_dispatch_and_errors():
  out = D.sample(toy_denoiser, SCHEDULE, (2, 1), jax.random.key(0), sampler="ddim", steps=5)
  assert out.shape == (2, 1)
  with pytest.raises(ValueError, match="sampler"):
    D.sample(toy_denoiser, SCHEDULE, (2, 1), jax.random.key(0), sampler="euler")


# Training and 1000-step sampling are compute, not compiling: a process with XLA's
# optimizations on (the suite's own processes use the fast-compile flags).
MIXTURE = """
import json
import jax
from paramgen_jax.artifact import frozen
from paramgen_jax.configlib import load_config
from paramgen_jax.methods import toy_gmm
config = load_config("toy_gmm")
config.model.hidden, config.model.depth = 64, 2
config.train.steps = config.train.checkpoint_every = 1500
data = toy_gmm.draw_mixture(config.data.means, config.data.stds, config.data.weights, 20000, 0)
generator = toy_gmm.train({"x": data}, config, workdir=".")
found = {}
for sampler in ("ddpm", "ddim"):
  config.sample.sampler = sampler
  points = toy_gmm.generate(generator.replace(config=frozen(config)), jax.random.key(7), None,
                            4000)["x"]
  found[sampler] = {k: [float(v) for v in vs]
                    for k, vs in toy_gmm.component_stats(points, config.data.means).items()}
print(json.dumps(found))
"""


@pytest.mark.slow
def test_trained_denoiser_recovers_mixture_means_and_weights(tmp_path):
  """Known answer: 0.3·N(-2, 0.3²) + 0.7·N(2, 0.3²). Tolerances: means ±0.1, weights ±0.04."""
  config = load_config("toy_gmm")
  printed = run_python(MIXTURE, cwd=str(tmp_path), fast_compile=False)
  for sampler, found in json.loads(printed.strip().splitlines()[-1]).items():
    np.testing.assert_allclose(found["mean"], config.data.means, atol=0.1, err_msg=sampler)
    np.testing.assert_allclose(found["weight"], config.data.weights, atol=0.04, err_msg=sampler)
    np.testing.assert_allclose(found["std"], config.data.stds, atol=0.12, err_msg=sampler)
