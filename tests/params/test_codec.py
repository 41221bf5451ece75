"""Parameter codecs: they agree with the transforms they compose, and survive a save exactly."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax import params as P
from paramgen_jax.errors import CorruptDataError
from paramgen_jax.params.codec import FlatCodec, TokenCodec, load_codec, save_codec


def zoo(n=6, seed=0):
  """Stacked Flax-like variables: a kernel, a bias, BatchNorm statistics, an int counter."""
  rng = np.random.default_rng(seed)
  return {"params": {"dense": {"kernel": rng.normal(size=(n, 5, 3)).astype(np.float32),
                               "bias": rng.normal(size=(n, 3)).astype(np.float32)}},
          "batch_stats": {"bn": {"var": rng.uniform(0.5, 2, size=(n, 3)).astype(np.float32)}},
          "count": np.full((n,), 7, np.int32)}


def test_token_codec_is_the_composition_of_layout_stats_and_tokens():
  stacked = zoo()
  codec = TokenCodec.fit(stacked, token_size=4, granularity="layer")
  layout = P.ParamLayout.from_template(jax.tree_util.tree_map(lambda a: a[0], stacked))
  vectors = jax.vmap(layout.to_vector)(stacked)
  stats = P.fit_layer_stats(vectors, layout)
  plan = P.make_token_layout(layout, 4, "layer")
  expected = jax.vmap(lambda v: P.tokenize(P.normalize_layers(v, stats, layout), plan))(vectors)
  tokens = jax.vmap(codec.encode)(stacked)
  np.testing.assert_array_equal(tokens, expected)
  again = jax.vmap(codec.decode)(tokens)
  for a, b in zip(jax.tree_util.tree_leaves(again), jax.tree_util.tree_leaves(stacked)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert np.all(np.asarray(again["count"]) == 7)  # constants come back from the template


def test_token_codec_coordinate_normalization_z_scores_each_coordinate():
  stacked = zoo()
  codec = TokenCodec.fit(stacked, token_size=4, granularity="layer", normalization="coordinate")
  layout = codec.layout
  vectors = np.asarray(jax.vmap(layout.to_vector)(stacked), np.float64)
  expected = (vectors - vectors.mean(0)) / np.where(vectors.std(0) < 1e-8, 1.0, vectors.std(0))
  tokens = jax.vmap(codec.encode)(stacked)
  plan = P.make_token_layout(layout, 4, "layer")
  np.testing.assert_allclose(jax.vmap(lambda t: P.detokenize(t, plan))(tokens), expected,
                             atol=1e-4)
  again = jax.vmap(codec.decode)(tokens)
  for a, b in zip(jax.tree_util.tree_leaves(again), jax.tree_util.tree_leaves(stacked)):
    assert a.dtype == b.dtype
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="normalization must be one of"):
    TokenCodec.fit(stacked, token_size=4, normalization="global")


def test_flat_codec_normalizes_per_task_and_pads():
  stacked = zoo(8)
  task_ids = np.array([0, 0, 0, 0, 1, 1, 1, 1])
  codec = FlatCodec.fit(stacked, task_ids, ["a", "b"], normalization="task", multiple=8)
  assert codec.length == 24 and codec.mask.sum() == codec.layout.num_params == 21
  vectors = jax.vmap(codec.encode)(stacked, task_ids)
  assert vectors.shape == (8, 24) and np.all(np.asarray(vectors)[:, 21:] == 0)
  # Per task, every real coordinate is z-scored: mean 0 over the task's checkpoints.
  np.testing.assert_allclose(np.asarray(vectors)[:4, :21].mean(0), 0, atol=1e-5)
  again = jax.vmap(codec.decode)(vectors, task_ids)
  np.testing.assert_allclose(again["params"]["dense"]["kernel"],
                             stacked["params"]["dense"]["kernel"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda s: TokenCodec.fit(s, token_size=4, granularity="channel"),
    lambda s: TokenCodec.fit(s, token_size=4, normalization="coordinate"),
    lambda s: FlatCodec.fit(s, np.zeros(6, int), ["only"], normalization="batch", multiple=4)])
def test_saved_codec_decodes_bit_identically(tmp_path, make):
  stacked = zoo()
  codec = make(stacked)
  save_codec(codec, str(tmp_path))
  loaded = load_codec(str(tmp_path))
  assert type(loaded) is type(codec) and loaded.settings() == codec.settings()
  args = (jnp.int32(0),) if isinstance(codec, FlatCodec) else ()  # a traced task row
  encoded = jax.vmap(lambda t: codec.encode(t, *args))(stacked)
  decode = lambda c: jax.jit(
      lambda x, *a: jax.vmap(lambda v: c.decode(v, *a))(x))(encoded, *args)
  for a, b in zip(jax.tree_util.tree_leaves(decode(codec)), jax.tree_util.tree_leaves(decode(loaded))):
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


def test_tampered_or_missing_codec_is_one_line(tmp_path):
  with pytest.raises(FileNotFoundError, match="run --mode=train first"):
    load_codec(str(tmp_path))
  save_codec(TokenCodec.fit(zoo(), token_size=4), str(tmp_path))
  record = json.load(open(tmp_path / "codec.json"))
  record["checksum"] = "0" * 64
  json.dump(record, open(tmp_path / "codec.json", "w"))
  with pytest.raises(CorruptDataError, match="does not match the checksum"):
    load_codec(str(tmp_path))
  os.remove(tmp_path / "codec.npz")
  with pytest.raises(CorruptDataError, match="parameter codec"):
    load_codec(str(tmp_path))


def test_only_dict_trees_can_be_saved(tmp_path):
  stacked = [np.zeros((2, 3), np.float32), np.ones((2, 4), np.float32)]
  with pytest.raises(ValueError, match="nested dicts"):
    save_codec(TokenCodec.fit(stacked, token_size=2), str(tmp_path))
