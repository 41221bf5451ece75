"""Structure-aware arrangement: bit-exact round trips, natural shapes, masks, normalization,
the sequential ablation and the sensitivity weights' known answers."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paramgen_jax.params.arrangement import Arrangement, layer_sensitivity, matrix_shape
from tests.params.test_layout import assert_bit_identical, pytrees

KINDS = st.sampled_from(["structure", "sequential"])


@settings(deadline=None, max_examples=20)
@given(pytrees(), KINDS)
def test_round_trip_is_bit_exact_and_padding_is_zero(tree, kind):
  arr = Arrangement.from_template(tree, kind=kind)
  weights, biases = arr.arrange(tree)
  assert weights.shape == arr.volume_shape and biases.shape == (arr.num_layers, arr.cols)
  assert not np.any(np.asarray(weights, np.float32)[~arr.weight_mask])
  assert not np.any(np.asarray(biases, np.float32)[~arr.bias_mask])
  assert_bit_identical(arr.restore(weights, biases), tree)
  # every generated entry is in exactly one place
  assert int(arr.weight_mask.sum() + arr.bias_mask.sum()) == arr.layout.num_params


class Net(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = nn.Conv(4, (3, 3))(x)
    x = nn.LayerNorm()(x)
    return nn.Dense(3)(x.mean(axis=(1, 2)))


def test_layers_keep_their_natural_shape():
  params = Net().init(jax.random.key(0), jnp.ones((1, 6, 6, 2)))
  arr = Arrangement.from_template(params)
  shapes = {s.name.split("/")[-2]: (s.rows, s.cols, s.bias >= 0) for s in arr.slots}
  # conv (3, 3, 2, 4) -> (18, 4) with its bias; LayerNorm scale (4,) -> (1, 4) with bias
  assert shapes == {"Conv_0": (18, 4, True), "LayerNorm_0": (1, 4, True),
                    "Dense_0": (4, 3, True)}
  weights, biases = arr.arrange(params)
  kernel = params["params"]["Conv_0"]["kernel"]
  np.testing.assert_array_equal(weights[0, :18, :4], kernel.reshape(18, 4))
  np.testing.assert_array_equal(biases[2, :3], params["params"]["Dense_0"]["bias"])
  assert arr.volume_shape == (3, 18, 4)


def test_sequential_fills_rows_in_order():
  tree = {"a": {"kernel": jnp.arange(6.0).reshape(2, 3)}, "b": {"kernel": jnp.ones((4, 2))}}
  arr = Arrangement.from_template(tree, kind="sequential")
  weights, _ = arr.arrange(tree)
  # the (2, 3) kernel written row-major into a (4, 3) slab: its natural shape happens to be
  # kept; the (4, 2) kernel is not: its 8 entries fill rows 0-1 and two entries of row 2.
  np.testing.assert_array_equal(weights[1].reshape(-1)[:8], np.ones(8))
  assert arr.weight_mask[1].sum() == 8 and arr.weight_mask[1, 2, :2].all()
  structured = Arrangement.from_template(tree)
  assert structured.weight_mask[1, :, :2].all() and not structured.weight_mask[1, :, 2].any()


def test_normalize_gives_unit_layers_and_inverts():
  rng = np.random.default_rng(0)
  tree = {"d0": {"kernel": jnp.asarray(rng.normal(3.0, 2.0, (5, 7)), jnp.float32),
                 "bias": jnp.asarray(rng.normal(-1.0, 0.5, 7), jnp.float32)},
          "d1": {"kernel": jnp.full((7, 1), 0.25, jnp.float32)}}   # constant: std 1
  arr = Arrangement.from_template(tree)
  weights, biases = arr.arrange(tree)
  w_hat, b_hat, stats = arr.normalize(weights, biases)
  real = np.asarray(w_hat[0])[arr.weight_mask[0]]
  np.testing.assert_allclose([real.mean(), real.std()], [0.0, 1.0], atol=1e-5)
  np.testing.assert_allclose(stats[0, :2], [np.mean(tree["d0"]["kernel"]),
                                            np.std(tree["d0"]["kernel"])], rtol=1e-5)
  np.testing.assert_allclose(stats[1], [0.25, 1.0, 0.0, 1.0])
  back_w, back_b = arr.denormalize(w_hat, b_hat, stats)
  np.testing.assert_allclose(back_w, weights, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(back_b, biases, rtol=1e-6, atol=1e-6)
  assert not np.any(np.asarray(back_w)[~arr.weight_mask])


def test_layer_sensitivity_known_answer():
  # two layers: layer 0's entries vary with std 2 across models, layer 1's with std 1
  # (bias included), so normalized by the network mean std, layer scores are 2/m and 1/m.
  tree = {"a": {"kernel": jnp.zeros((2, 2)), "bias": jnp.zeros(2)},
          "b": {"kernel": jnp.zeros((2, 2)), "bias": jnp.zeros(2)}}
  arr = Arrangement.from_template(tree)
  signs = np.asarray([1.0, -1.0])[:, None, None, None]
  weights = np.zeros((2,) + arr.volume_shape) + signs * np.asarray([2.0, 1.0])[None, :, None,
                                                                             None]
  biases = np.zeros((2, 2, 2)) + signs[:, :, :, 0] * np.asarray([2.0, 1.0])[None, :, None]
  score = layer_sensitivity(arr, weights * arr.weight_mask[None], biases * arr.bias_mask[None])
  np.testing.assert_allclose(score, [2.0 / 1.5, 1.0 / 1.5], rtol=1e-6)


def test_matrix_shapes_and_errors():
  assert matrix_shape(()) == (1, 1) and matrix_shape((5,)) == (1, 5)
  assert matrix_shape((3, 3, 2, 4)) == (18, 4) and matrix_shape((3, 0)) == (3, 0)
  arr = Arrangement.from_template({"w": jnp.ones((2, 3))})
  with pytest.raises(ValueError, match="expected weights"):
    arr.restore(jnp.ones((1, 3, 2)), jnp.ones((1, 2)))
  with pytest.raises(ValueError, match="arrangement kind"):
    Arrangement.from_template({"w": jnp.ones((2, 3))}, kind="diagonal")


def test_arrange_jits_and_vmaps():
  tree = {"a": {"kernel": jnp.ones((3, 4)), "bias": jnp.ones(4)}, "n": jnp.int32(4)}
  arr = Arrangement.from_template(tree)
  batch = jax.tree_util.tree_map(lambda x: jnp.stack([x, x * 2]), tree)
  w, b = jax.jit(jax.vmap(arr.arrange))(batch)
  back = jax.jit(jax.vmap(arr.restore))(w, b)
  np.testing.assert_array_equal(back["a"]["kernel"], batch["a"]["kernel"])
  assert int(back["n"][1]) == 4
