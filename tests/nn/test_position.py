"""Token position embeddings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.nn.embeddings import sinusoidal_embedding
from paramgen_jax.nn.position import POSITION_KINDS, TokenPositions, sinusoidal_2d


def test_2d_is_token_then_layer_sinusoid():
  layer = jnp.array([0, 0, 1, 1, 1])
  token = jnp.array([0, 1, 0, 1, 2])
  pe = sinusoidal_2d(layer, token, 8)
  np.testing.assert_allclose(pe[:, :4], sinusoidal_embedding(token, 4))
  np.testing.assert_allclose(pe[:, 4:], sinusoidal_embedding(layer, 4))
  assert len({tuple(np.round(row, 6)) for row in np.asarray(pe)}) == 5  # all distinct


@pytest.mark.parametrize("kind", POSITION_KINDS)
def test_kinds(kind):
  layer, token = jnp.array([0, 0, 1]), jnp.array([0, 1, 0])
  module = TokenPositions(6, kind)
  variables = module.init(jax.random.key(0), layer, token)
  out = module.apply(variables, layer, token)
  assert out.shape == (3, 6)
  assert ("table" in variables.get("params", {})) == (kind == "learnable")
  if kind == "none":
    assert float(jnp.abs(out).max()) == 0.0


def test_unknown_kind():
  with pytest.raises(ValueError, match="unknown position"):
    TokenPositions(4, "3d").init(jax.random.key(0), jnp.zeros(2, int), jnp.zeros(2, int))
