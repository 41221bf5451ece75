"""D2NWG's LLM path on a small BERT-shaped tree: Algorithm 1, the metric, chunk diffusion."""

import jax
import ml_collections
import numpy as np

from paramgen_jax.methods.d2nwg import llm


def _tree(seed=0):
  rng = np.random.default_rng(seed)
  layer = lambda: {n: {"kernel": rng.normal(size=(8, 8)).astype(np.float32),
                       "bias": np.zeros(8, np.float32)} for n in llm.MATRIX_NAMES}
  return {"params": {"layer_0": layer(), "layer_1": layer(), "embeddings_norm": {}}}


def test_matrices_and_replacement_round_trip():
  tree = _tree()
  found = llm.matrices(tree)
  assert len(found) == 12 and "layer_1/output" in found
  new = llm.with_matrices(tree, {"layer_1/output": np.ones((8, 8))})
  np.testing.assert_array_equal(llm.matrices(new)["layer_1/output"], np.ones((8, 8)))
  np.testing.assert_array_equal(llm.matrices(tree)["layer_1/output"], found["layer_1/output"])


def test_retrieval_mrr_known_answers():
  pool = llm.Pool(["a", "b", "c"], ["A", "B", "C"])
  table = {"a": [1, 0], "b": [0, 1], "c": [0.6, 0.8], "A": [1, 0], "B": [0.6, 0.8],
           "C": [0, 1]}
  embed = lambda s: np.asarray([table[x] for x in s], np.float32)
  # a ranks A first; b prefers C (1.0) to B (0.8): rank 2; c prefers B (1.0) to C: rank 2.
  assert llm.retrieval_mrr(embed, pool) == (1 + 0.5 + 0.5) / 3
  val, test = llm.retrieval_pools(20)
  assert len(val.queries) == 20 and not set(val.queries) & set(test.queries)


def test_sequential_improvement_keeps_only_improvements():
  tree = _tree()
  target = np.full((8, 8), 0.5, np.float32)
  metric = lambda p: -float(sum(np.abs(llm.matrices(p)[n] - target).sum()
                                for n in ("layer_0/query", "layer_1/key")))
  offers = {"layer_0/query": [target + 1, target], "layer_1/key": [target + 50]}
  best, history = llm.sequential_improvement(tree, list(offers), offers.get, metric)
  assert [h["accepted"] for h in history[1:]] == [True, False]
  np.testing.assert_array_equal(llm.matrices(best)["layer_0/query"], target)
  np.testing.assert_array_equal(llm.matrices(best)["layer_1/key"],
                                llm.matrices(tree)["layer_1/key"])
  assert history[-1]["score"] == metric(best)


def test_chunk_diffusion_gives_matrices_of_the_layer_shape():
  c = ml_collections.ConfigDict()
  c.llm = dict(chunk_size=16, embed_dim=8, encoder=(4,), decoder=())
  c.diffusion = dict(schedule="linear", timesteps=50, beta_start=1e-4, beta_end=0.02,
                     prediction="x0")
  c.train = dict(steps=3, batch_size=8, lr=1e-3, warmup_steps=0, final_lr_ratio=0.0,
                 weight_decay=0.0, b1=0.9, b2=0.999, clip_norm=1.0, ema_decay=0.0,
                 compute_dtype="float32", log_every=1, checkpoint_every=100,
                 keep_checkpoints=1, seed=0, fsdp_min_size=2**20)
  c.sample = dict(sampler="ddim", steps=3, eta=0.0, num_samples=1, seed=0, clip_x0=None)
  c.mesh = dict(data=-1)
  weights = {"layer_0/query": np.arange(24, dtype=np.float32).reshape(4, 6),
             "layer_1/output": np.ones((5, 4), np.float32) + np.eye(5, 4)}
  model = llm.train_chunk_diffusion(weights, list(weights), c)
  for name, w in weights.items():
    found = llm.layer_candidates(model, name, 2, jax.random.key(0))
    assert len(found) == 2 and all(f.shape == w.shape and np.isfinite(f).all() for f in found)
