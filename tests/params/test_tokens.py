"""Known-answer checks of the token plans."""

import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax import params as P


def layout_of(tree, **kw):
  return P.ParamLayout.from_template(tree, **kw)


def test_layer_tokens_pad_each_layer():
  tree = {"a": jnp.zeros(7), "b": jnp.zeros((2, 2))}  # a: 7 params, b: 4 params
  plan = P.make_token_layout(layout_of(tree), 3, "layer")
  np.testing.assert_array_equal(plan.index, [[0, 1, 2], [3, 4, 5], [6, -1, -1],
                                             [7, 8, 9], [10, -1, -1]])
  np.testing.assert_array_equal(plan.layer_index, [0, 0, 0, 1, 1])
  np.testing.assert_array_equal(plan.token_in_layer, [0, 1, 2, 0, 1])
  assert plan.max_tokens_per_layer == 3
  np.testing.assert_array_equal(plan.mask.sum(), 11)


def test_model_tokens_straddle_layers():
  tree = {"a": jnp.zeros(7), "b": jnp.zeros((2, 2))}
  plan = P.make_token_layout(layout_of(tree), 4, "model")
  np.testing.assert_array_equal(plan.index, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, -1]])
  np.testing.assert_array_equal(plan.layer_index, [0, 0, 1])
  np.testing.assert_array_equal(plan.token_in_layer, [0, 1, 2])


def test_channel_tokens_pack_whole_output_rows():
  # kernel (in=3, out=4): output row j is kernel[:, j] = positions j, 4 + j, 8 + j.
  tree = {"k": jnp.zeros((3, 4))}
  plan = P.make_token_layout(layout_of(tree), 7, "channel")
  np.testing.assert_array_equal(plan.index, [[0, 4, 8, 1, 5, 9, -1],
                                             [2, 6, 10, 3, 7, 11, -1]])
  vector = jnp.arange(12.0)
  tokens = P.tokenize(vector, plan)
  np.testing.assert_array_equal(tokens[0, :3], [0.0, 4.0, 8.0])


def test_channel_rows_longer_than_a_token_span_tokens():
  tree = {"k": jnp.zeros((5, 2))}  # rows of length 5, token size 3
  plan = P.make_token_layout(layout_of(tree), 3, "channel")
  np.testing.assert_array_equal(plan.index, [[0, 2, 4], [6, 8, -1], [1, 3, 5], [7, 9, -1]])
  np.testing.assert_array_equal(plan.token_in_layer, [0, 1, 2, 3])


def test_bad_arguments():
  layout = layout_of({"a": jnp.zeros(3)})
  with pytest.raises(ValueError, match="token_size"):
    P.make_token_layout(layout, 0)
  with pytest.raises(ValueError, match="granularity"):
    P.make_token_layout(layout, 2, "rows")
  plan = P.make_token_layout(layout, 2)
  with pytest.raises(ValueError, match="expected tokens of shape"):
    P.detokenize(jnp.zeros((3, 2)), plan)
  with pytest.raises(ValueError, match="shorter"):
    P.padded_length(10, length=5)


def test_model_wise_length_pads_to_largest_architecture():
  small = layout_of({"a": jnp.zeros(5)})
  large = layout_of({"a": jnp.zeros(9), "b": jnp.zeros(2)})
  length = P.model_wise_length([small, large], multiple=4)
  assert length == 12
  flat = P.flatten_padded({"a": jnp.arange(5.0)}, small, length=length)
  np.testing.assert_array_equal(flat, [0, 1, 2, 3, 4] + [0] * 7)
  np.testing.assert_array_equal(P.padding_mask(small, length=length), [True] * 5 + [False] * 7)
