"""Mamba-2's chunked SSD equals the plain recurrence (float64, values and gradients)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.nn.mamba2 import Mamba2Layer, ssd_chunked, ssd_sequential
from paramgen_jax.nn.sequence import make_backbone


def inputs(length, heads=4, head_dim=3, groups=2, state=5, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(length, heads, head_dim))
  dt = np.log1p(np.exp(rng.normal(size=(length, heads))))  # softplus: positive
  a = -rng.uniform(0.5, 3.0, size=heads)
  B, C = rng.normal(size=(2, length, groups, state))
  return tuple(jnp.asarray(v) for v in (x, dt, a, B, C))


@pytest.mark.parametrize("length,chunk,groups", [(32, 8, 1), (37, 8, 2), (9, 1, 2),
                                                 (9, 16, 1), (16, 16, 4)])
def test_chunked_equals_sequential_values_and_gradients(length, chunk, groups):
  with jax.enable_x64(True):
    args = inputs(length, groups=groups)
    probe = jnp.asarray(np.random.default_rng(1).normal(size=args[0].shape))
    np.testing.assert_allclose(ssd_chunked(*args, chunk=chunk), ssd_sequential(*args),
                               rtol=1e-10, atol=1e-12)
    loss = lambda fn: lambda *a: jnp.sum(probe * fn(*a))
    every = tuple(range(5))
    ours = jax.grad(loss(lambda *a: ssd_chunked(*a, chunk=chunk)), argnums=every)(*args)
    reference = jax.grad(loss(ssd_sequential), argnums=every)(*args)
    for got, want in zip(ours, reference):
      np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


def test_known_answer_cumulative_sum():
  """One head, P = N = 1, B = C = 1, no decay (a = 0): y_t = Σ_{s<=t} Δ_s x_s."""
  with jax.enable_x64(True):
    x = jnp.arange(1.0, 8.0)[:, None, None]
    dt = jnp.linspace(0.5, 2.0, 7)[:, None]
    ones = jnp.ones((7, 1, 1))
    y = ssd_chunked(x, dt, jnp.zeros(1), ones, ones, chunk=3)
    np.testing.assert_allclose(y[:, 0, 0], np.cumsum(dt[:, 0] * x[:, 0, 0]), rtol=1e-12)


def test_layer_modes_agree_and_are_causal():
  layer = Mamba2Layer(16, d_state=4, head_dim=8, chunk=4)
  u = jax.random.normal(jax.random.key(0), (11, 16))
  params = layer.init(jax.random.key(1), u)
  chunked = layer.apply(params, u)
  sequential = Mamba2Layer(16, d_state=4, head_dim=8, mode="sequential").apply(params, u)
  np.testing.assert_allclose(chunked, sequential, rtol=1e-4, atol=1e-5)
  changed = layer.apply(params, u.at[6].add(1.0))
  np.testing.assert_array_equal(changed[:6], chunked[:6])
  assert float(jnp.abs(changed[6:] - chunked[6:]).max()) > 1e-4


def test_stack_through_the_registry_compiles():
  stack = make_backbone("mamba2", 32, num_layers=2, d_state=8, head_dim=16, chunk=8)
  x = jnp.ones((2, 19, 32))
  params = stack.init(jax.random.key(0), x)
  assert stack.apply(params, x).shape == (2, 19, 32)
  jax.jit(stack.apply).lower(params, x).compile()


def test_bad_head_dim_and_mode_are_one_clear_line():
  u = jnp.ones((5, 16))
  with pytest.raises(ValueError, match="head_dim 12 must divide"):
    Mamba2Layer(16, head_dim=12).init(jax.random.key(0), u)
  with pytest.raises(ValueError, match="mode must be one of chunked, sequential"):
    Mamba2Layer(16, head_dim=8, mode="scan").init(jax.random.key(0), u)
