"""GroupNorm from matrix products: the same values, gradients and parameters as flax's."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.nn.norms import GroupNorm, group_norm


@pytest.mark.parametrize("shape,groups", [((3, 40, 16), 8), ((40, 12), 4), ((2, 3, 9, 6), 3)])
def test_matches_flax_group_norm_values_and_gradients(shape, groups):
  x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), shape)  # an offset tests the variance
  ours, theirs = GroupNorm(groups), nn.GroupNorm(num_groups=groups)
  flat = x.reshape((-1,) + shape[-2:])  # flax: leading axis batch, statistics over the rest
  params = theirs.init(jax.random.key(1), flat)
  params = jax.tree_util.tree_map(lambda p: p + 0.1 * jnp.arange(p.size).reshape(p.shape),
                                  params)
  assert jax.tree_util.tree_structure(ours.init(jax.random.key(1), x)) == \
      jax.tree_util.tree_structure(params)
  weights = jax.random.normal(jax.random.key(2), shape)
  loss_ours = lambda p, x: jnp.sum(weights * ours.apply(p, x))
  loss_theirs = lambda p, x: jnp.sum(weights.reshape(flat.shape) * theirs.apply(
      p, x.reshape(flat.shape)))
  np.testing.assert_allclose(ours.apply(params, x).reshape(flat.shape),
                             theirs.apply(params, flat), atol=2e-5)
  for a, b in zip(jax.tree_util.tree_leaves(jax.grad(loss_ours, argnums=(0, 1))(params, x)),
                  jax.tree_util.tree_leaves(jax.grad(loss_theirs, argnums=(0, 1))(params, x))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_known_answer_and_bad_groups():
  h = jnp.asarray([[1.0, 10.0], [3.0, 30.0]])  # (L=2, C=2), one channel per group
  out = group_norm(h, jnp.ones(2), jnp.zeros(2), 2, epsilon=0.0)
  np.testing.assert_allclose(out, [[-1.0, -1.0], [1.0, 1.0]], atol=1e-6)
  with pytest.raises(ValueError, match="do not split into 3 groups"):
    group_norm(h, jnp.ones(2), jnp.zeros(2), 3)
