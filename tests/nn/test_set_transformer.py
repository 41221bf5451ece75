"""Set Transformer: shapes, and the invariances D2NWG's dataset encoder relies on."""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.nn.set_transformer import (ISAB, PMA, DatasetEncoder, MLPDatasetEncoder,
                                             SetEncoder)


def _data(c=4, k=3, d=6, seed=0):
  return jax.random.normal(jax.random.key(seed), (c, k, d))


class _Compiled(NamedTuple):
  """A module's apply compiled once per input shape (op-by-op it takes seconds a call)."""
  apply: Callable


@pytest.fixture(scope="module")
def encoder():
  model = DatasetEncoder(dim=16, out_dim=8, heads=2, num_inducing=4, depth=2)
  x = _data()
  variables = model.init(jax.random.key(1), x, jnp.ones(x.shape[:2], bool))
  return _Compiled(jax.jit(model.apply)), variables


def _output_shape(module, *inputs):
  """The shape `module` maps `inputs` to, traced, not run."""
  variables = jax.eval_shape(module.init, jax.random.key(0), *inputs)
  return jax.eval_shape(module.apply, variables, *inputs).shape


def test_blocks_shapes():
  x = _data(2, 5, 6)[0]
  assert _output_shape(ISAB(16, 2, 4), x) == (5, 16)
  assert _output_shape(PMA(16, 2, 3), x) == (3, 16)
  batch = _data(3, 5, 6)  # leading axes are a batch of sets
  assert _output_shape(SetEncoder(16, 8, 2, 4, 1), batch) == (3, 8)


def test_invariant_to_order_of_images_and_classes(encoder):
  model, v = encoder
  x, mask = _data(), jnp.ones((4, 3), bool)
  out = model.apply(v, x, mask)
  within = jnp.stack([x[0][::-1], x[1][jnp.array([1, 2, 0])], x[2], x[3][::-1]])
  np.testing.assert_allclose(model.apply(v, within, mask), out, atol=1e-5)
  np.testing.assert_allclose(model.apply(v, x[jnp.array([2, 0, 3, 1])], mask), out, atol=1e-5)


def test_invariant_to_set_size_by_repetition_and_to_padding(encoder):
  model, v = encoder
  x, mask = _data(), jnp.ones((4, 3), bool)
  out = model.apply(v, x, mask)
  twice = jnp.concatenate([x, x], axis=1)  # every image twice: same distribution, 2x size
  np.testing.assert_allclose(model.apply(v, twice, jnp.ones((4, 6), bool)), out, atol=1e-5)
  padded = jnp.concatenate([x, 100 * jnp.ones((4, 2, 6))], axis=1)  # masked padding
  pad_mask = jnp.concatenate([mask, jnp.zeros((4, 2), bool)], axis=1)
  np.testing.assert_allclose(model.apply(v, padded, pad_mask), out, atol=1e-5)
  extra_class = jnp.concatenate([x, 7 * jnp.ones((1, 3, 6))], axis=0)  # a padding class
  class_mask = jnp.concatenate([mask, jnp.zeros((1, 3), bool)], axis=0)
  np.testing.assert_allclose(model.apply(v, extra_class, class_mask), out, atol=1e-5)


def test_encoder_sees_the_content(encoder):
  model, v = encoder
  x, mask = _data(), jnp.ones((4, 3), bool)
  assert float(jnp.abs(model.apply(v, x, mask) - model.apply(v, x + 1.0, mask)).max()) > 1e-3


def test_mlp_encoder_pads_and_cuts():
  model = MLPDatasetEncoder(max_classes=4, max_shots=3, hidden=2, out_dim=5)
  x = _data()
  v = model.init(jax.random.key(0), x, jnp.ones((4, 3), bool))
  out = model.apply(v, x, jnp.ones((4, 3), bool))
  assert out.shape == (5,)
  one_shot = model.apply(v, x[:, :1], jnp.ones((4, 1), bool))
  masked = model.apply(v, x, jnp.asarray(np.arange(3) < 1)[None].repeat(4, 0))
  np.testing.assert_allclose(one_shot, masked, atol=1e-6)  # zero padding == masked shots
