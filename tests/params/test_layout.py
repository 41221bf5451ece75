"""Round trips of layouts, flat vectors, tokens and chunks: bit-exact, on random pytrees."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from paramgen_jax import params as P

SHAPES = st.sampled_from([(), (1,), (7,), (3, 5), (2, 3, 1, 4), (3, 3, 2, 6), (0,), (1, 1)])
DTYPES = st.sampled_from([jnp.float32, jnp.bfloat16])
NAMES = st.text("abcdefgh_", min_size=1, max_size=6)


@st.composite
def leaves(draw):
  shape, dtype = draw(SHAPES), draw(DTYPES)
  seed = draw(st.integers(0, 2**31 - 1))
  values = np.random.default_rng(seed).standard_normal(shape) * 10.0 ** draw(st.integers(-8, 8))
  if draw(st.booleans()) and values.size:
    values.flat[0] = -0.0  # signed zeros must survive too
  return jnp.asarray(values, dtype)


def pytrees():
  counter = st.builds(lambda v: jnp.asarray(v, jnp.int32), st.integers(-5, 1000))
  leaf = st.one_of(leaves(), leaves(), leaves(), counter)
  return st.recursive(st.dictionaries(NAMES, leaf, min_size=1, max_size=4),
                      lambda children: st.dictionaries(NAMES, st.one_of(children, st.just({})),
                                                       min_size=1, max_size=3),
                      max_leaves=12)


def bits(x):
  x = np.asarray(x)
  return x.view(np.uint16) if x.dtype == jnp.bfloat16 else x.view(
      np.uint32 if x.itemsize == 4 else np.uint8)


def assert_bit_identical(a, b):
  la, ta = jax.tree_util.tree_flatten(a)
  lb, tb = jax.tree_util.tree_flatten(b)
  assert ta == tb
  for x, y in zip(la, lb):
    assert np.asarray(x).dtype == np.asarray(y).dtype
    assert np.shape(x) == np.shape(y)
    np.testing.assert_array_equal(bits(x), bits(y))


@given(pytrees(), st.integers(1, 70), st.sampled_from(["layer", "model", "channel"]))
def test_round_trips_are_bit_exact(tree, token_size, granularity):
  layout = P.ParamLayout.from_template(tree)
  vector = layout.to_vector(tree)
  assert vector.shape == (layout.num_params,)
  assert_bit_identical(layout.from_vector(vector), tree)

  flat = P.flatten_padded(tree, layout, multiple=token_size)
  assert flat.shape[0] % token_size == 0 and flat.shape[0] >= layout.num_params
  assert not np.any(np.asarray(flat[layout.num_params:], np.float32))
  assert_bit_identical(P.unflatten_padded(flat, layout), tree)

  plan = P.make_token_layout(layout, token_size, granularity)
  tokens = P.tree_to_tokens(tree, layout, plan)
  assert tokens.shape == (plan.num_tokens, token_size)
  assert not np.any(np.asarray(tokens, np.float32)[~plan.mask])  # zeros, never NaN
  assert_bit_identical(P.tokens_to_tree(tokens, layout, plan), tree)


@given(pytrees(), st.integers(1, 9))
def test_chunks_round_trip_and_cover_layers(tree, chunk_size):
  layout = P.ParamLayout.from_template(tree)
  plan = P.layer_chunk_plan(layout, chunk_size)
  chunks = P.to_chunks(tree, layout, plan)
  assert_bit_identical(P.from_chunks(chunks, layout, plan), tree)
  ranges = P.layer_chunk_ranges(plan)
  assert len(ranges) == len(layout.groups)
  for layer, (start, stop) in enumerate(ranges):
    assert stop - start == -(-int(layout.group_sizes[layer]) // chunk_size)
    assert np.all(plan.layer_index[start:stop] == layer)


def test_transforms_jit_and_vmap():
  tree = {"a": {"kernel": jnp.arange(12.0).reshape(3, 4), "bias": jnp.ones(4)},
          "step": jnp.int32(7)}
  layout = P.ParamLayout.from_template(tree)
  plan = P.make_token_layout(layout, 5)
  batch = jax.tree_util.tree_map(lambda x: jnp.stack([x, x + 1]), tree)
  tokens = jax.jit(jax.vmap(lambda t: P.tree_to_tokens(t, layout, plan)))(batch)
  assert tokens.shape == (2, plan.num_tokens, 5)
  back = jax.jit(jax.vmap(lambda t: P.tokens_to_tree(t, layout, plan)))(tokens)
  np.testing.assert_array_equal(back["a"]["kernel"], batch["a"]["kernel"])
  assert back["step"].shape == (2,) and int(back["step"][1]) == 7  # constant, from the template


def test_policy_keeps_integers_and_matches_constant():
  tree = {"params": {"w": jnp.ones((2, 2)), "frozen": jnp.ones(3)},
          "count": jnp.int32(5), "key": jnp.uint32(3)}
  layout = P.ParamLayout.from_template(tree, keep_constant=[r"frozen$"])
  assert [s.path for s in layout.generated_leaves] == ["params/w"]
  assert {s.path for s in layout.constant_leaves} == {"count", "key", "params/frozen"}
  assert layout.num_params == 4
  changed = layout.from_vector(jnp.full(4, 3.0))
  np.testing.assert_array_equal(changed["params"]["frozen"], np.ones(3))
  assert int(changed["count"]) == 5


def test_group_by_module_and_errors():
  tree = {"Dense_0": {"kernel": jnp.ones((2, 3)), "bias": jnp.zeros(3)},
          "Dense_1": {"kernel": jnp.ones((3, 1))}}
  by_module = P.ParamLayout.from_template(tree, group_by="module")
  assert by_module.groups == ("Dense_0", "Dense_1")
  np.testing.assert_array_equal(by_module.group_sizes, [9, 3])
  by_leaf = P.ParamLayout.from_template(tree)
  assert len(by_leaf.groups) == 3
  with pytest.raises(ValueError, match="does not match the layout"):
    by_leaf.to_vector({"Dense_0": tree["Dense_0"]})
  with pytest.raises(ValueError, match="has shape"):
    by_leaf.to_vector({**tree, "Dense_1": {"kernel": jnp.ones((4, 1))}})
  with pytest.raises(ValueError, match="vector of shape"):
    by_leaf.from_vector(jnp.ones(5))


def test_mixed_dtypes_promote_and_come_back():
  tree = {"a": jnp.asarray([1.5, -2.25], jnp.bfloat16), "b": jnp.asarray([1e-30], jnp.float32)}
  layout = P.ParamLayout.from_template(tree)
  assert layout.dtype == jnp.float32
  assert_bit_identical(layout.from_vector(layout.to_vector(tree)), tree)
  only_bf16 = {"a": tree["a"]}
  assert P.ParamLayout.from_template(only_bf16).dtype == jnp.bfloat16


class SmallCNN(nn.Module):
  @nn.compact
  def __call__(self, x, train=False):
    x = nn.Conv(4, (3, 3))(x)
    x = nn.BatchNorm(use_running_average=not train)(x)
    x = nn.relu(x).mean(axis=(1, 2))
    return nn.Dense(3)(x)


def test_real_flax_model_round_trip_and_log_leaves():
  variables = SmallCNN().init(jax.random.key(0), jnp.ones((2, 8, 8, 1)))
  x = jax.random.normal(jax.random.key(1), (2, 8, 8, 1))
  _, updates = SmallCNN().apply(variables, x, train=True, mutable=["batch_stats"])
  variables = {**variables, **updates}
  layout = P.ParamLayout.from_template(variables)
  assert layout.num_params == sum(np.size(v) for v in jax.tree_util.tree_leaves(variables))
  logged = [s.path for s in layout.generated_leaves if s.log_transform]
  assert logged == ["batch_stats/BatchNorm_0/var"]
  for granularity in ("layer", "model", "channel"):
    plan = P.make_token_layout(layout, 16, granularity)
    back = P.tokens_to_tree(P.tree_to_tokens(variables, layout, plan), layout, plan)
    assert_bit_identical(back, variables)
  out = SmallCNN().apply(layout.from_vector(layout.to_vector(variables)), x)
  np.testing.assert_array_equal(out, SmallCNN().apply(variables, x))
  assert "generated parameters" in layout.summary()
