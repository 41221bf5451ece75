"""Hybrid directional convolutions: known answers of each mixer, blocked axes, shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.nn.hybrid_conv import AxisMixer, HybridBlock, HybridDecoder

X = jax.random.normal(jax.random.key(0), (2, 3, 5, 4))   # (B, N, H, W)


def test_kernel_one_column_mixer_is_a_matrix_product_over_columns():
  mixer = AxisMixer("C", 6, kernel=1)
  params = mixer.init(jax.random.key(1), X)
  conv = params["params"]["Conv_0"]
  expected = jnp.einsum("bnhw,wv->bnhv", X, conv["kernel"][0]) + conv["bias"][None, None, None]
  np.testing.assert_allclose(mixer.apply(params, X), expected, rtol=1e-5, atol=1e-5)


def test_kernel_one_row_mixer_is_a_matrix_product_over_rows():
  mixer = AxisMixer("R", 7, kernel=1)
  params = mixer.init(jax.random.key(1), X)
  conv = params["params"]["Conv_0"]
  expected = (jnp.einsum("bnhw,hr->bnrw", X, conv["kernel"][0])
              + conv["bias"][None, None, :, None])
  np.testing.assert_allclose(mixer.apply(params, X), expected, rtol=1e-5, atol=1e-5)


def test_layer_mixer_mixes_layers_and_keeps_locality():
  mixer = AxisMixer("L", 2, kernel=3)
  params = mixer.init(jax.random.key(1), X)
  y = mixer.apply(params, X)
  assert y.shape == (2, 2, 5, 4)
  # a change at (h=0, w=0) of one layer reaches only the 3x3 neighbourhood of every layer
  bumped = mixer.apply(params, X.at[:, 1, 0, 0].add(1.0))
  changed = np.abs(np.asarray(bumped - y)).max(axis=(0, 1)) > 1e-6
  assert changed[:2, :2].all() and not changed[2:, :].any() and not changed[:, 2:].any()


@pytest.mark.parametrize("axis, position", [("L", 1), ("R", 2), ("C", 3)])
def test_blocked_axis_is_interpolated_without_parameters(axis, position):
  size = 9
  mixer = AxisMixer(axis, size, kernel=3, blocked=True)
  params = mixer.init(jax.random.key(1), X)
  assert not jax.tree_util.tree_leaves(params)
  shape = list(X.shape)
  shape[position] = size
  np.testing.assert_allclose(mixer.apply(params, X),
                             jax.image.resize(X, tuple(shape), "linear"), rtol=1e-6)


def test_block_shapes_residual_and_blocked_parameters():
  block = HybridBlock((3, 5, 4), kernel=3)
  params = block.init(jax.random.key(2), X)
  assert block.apply(params, X).shape == X.shape
  names = set(params["params"])
  assert {"rows_a", "rows_b", "columns_a", "columns_b", "layers", "bias"} <= names
  blocked = HybridBlock((3, 5, 4), kernel=3, blocked=("L", "R"))
  names = set(blocked.init(jax.random.key(2), X)["params"])
  assert "layers" not in names and "rows_a" not in names and "columns_a" in names
  # every axis blocked: nothing is mixed, yet the normalized branches are added to the input
  frozen = HybridBlock((3, 5, 4), kernel=3, blocked=("L", "R", "C"))
  y = frozen.apply(frozen.init(jax.random.key(2), X), X)
  assert y.shape == X.shape and not np.allclose(y, X)


def test_decoder_follows_its_shape_schedule():
  decoder = HybridDecoder(((4, 8, 8), (2, 16, 6)), kernel=3)
  y = decoder.apply(decoder.init(jax.random.key(3), X), X)
  assert y.shape == (2, 2, 16, 6)
