"""Token-parallel RPG generation: 8 devices give the parameters of one device."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax import artifact
from paramgen_jax import params as P
from paramgen_jax.methods.rpg import core
from paramgen_jax.methods.rpg.token_parallel import TOKEN_AXIS, token_mesh
from paramgen_jax.params.codec import TokenCodec
from tests.helpers import load_config


@pytest.fixture(scope="module")
def generator():
  """A smoke-size RPG generator with random weights (no zoo, no training) whose target
  (a 2-layer MLP) has 13 tokens of 64 per model: 7 + 1 + 4 + 1 (kernel, bias, kernel, bias);
  not a multiple of 8, so the last device pads."""
  config = load_config("rpg_convnext", "smoke")
  template = {f"Dense_{i}": {"kernel": np.zeros((rows, 10), np.float32),
                             "bias": np.zeros((10,), np.float32)}
              for i, rows in enumerate((40, 20))}
  layout = P.ParamLayout.from_template(template)
  groups = len(layout.groups)
  codec = TokenCodec(layout, P.make_token_layout(layout, config.tokens.size, "layer"),
                     P.LayerStats(jnp.zeros(groups), jnp.ones(groups), jnp.ones(groups)))
  shapes = jax.eval_shape(core.init_fn(config, codec, 2, 0), jax.random.key(0))
  rng = np.random.default_rng(0)
  params = jax.tree_util.tree_map(lambda s: 0.3 * rng.standard_normal(s.shape, np.float32),
                                  shapes)
  return core.Generator(params, codec, artifact.frozen(config), 2, 0)


def _run(generator, mesh):
  """Two models (26 tokens: 8 devices sample 4 each, the last pads 6), on `mesh`."""
  fn = jax.jit(functools.partial(core.generate, mesh=mesh), static_argnames="num_models")
  return jax.device_get(fn(generator, jax.random.key(4), None, num_models=2))


@pytest.fixture(scope="module")
def unsharded(generator):
  return _run(generator, None)


def _assert_close(sharded, reference):
  leaves = jax.tree_util.tree_leaves
  for a, b in zip(leaves(sharded), leaves(reference), strict=True):
    # The same key and the same computation per token, but not bit for bit: each device
    # runs the denoiser on a batch of 4 tokens (26 on one device), and XLA partitions the
    # jitted program around the shard_map (e.g. the prototypes' last matmul), so blocking
    # and float32 rounding differ (measured: at most 4e-6 on entries of size ~40, a few
    # ulps; also in 'sequential' mode). Same tolerance as the inference-mode test
    # (tests/methods/test_rpg_model.py).
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_eight_devices_give_the_parameters_of_one(generator, unsharded):
  assert jax.device_count() == 8  # tests/conftest.py
  assert generator.codec.plan.num_tokens == 13
  eight, one = token_mesh(), token_mesh(jax.devices()[:1])
  assert eight.shape == {TOKEN_AXIS: 8} and one.shape == {TOKEN_AXIS: 1}
  sharded, single = _run(generator, eight), _run(generator, one)
  for b, c in zip(*map(jax.tree_util.tree_leaves, (single, unsharded)), strict=True):
    np.testing.assert_array_equal(b, c)  # one device: exactly the unsharded path
  _assert_close(sharded, single)
  kernel = jax.tree_util.tree_leaves(sharded)[-1]
  assert np.isfinite(kernel).all() and not np.allclose(kernel[0], kernel[1])


def test_a_mesh_of_two_axes_splits_over_both(generator, unsharded):
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()).reshape(2, 4), ("data", "model"))
  _assert_close(_run(generator, mesh), unsharded)
