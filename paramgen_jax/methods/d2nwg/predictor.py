"""D2NWG's optional accuracy predictor (App. B.1, C.7): g(latent, dataset embedding) ->
accuracy, used to rank sampled candidates (the paper's predictor-guided variant).

Training data: `predictor.rows` seen models of the first architecture, each at every noise
level of `predictor.noise` (standardized latent + σ·ε, so the set spans good to broken
weights), decoded and scored on the validation split of their task; inputs are the noisy
latent and the task's frozen support-set embedding (draw 0). A fifth of the models (all their
noise levels) is held out; predictor_fit.json gives the held-out Spearman correlation, so a
ranking is only trusted as far as it was measured.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import hosts, memory
from paramgen_jax.integrity import atomic_write_json
from paramgen_jax.methods.d2nwg import core, vectors
from paramgen_jax.methods.d2nwg.model import Predictor
from paramgen_jax.train import recipe
from paramgen_jax.zoo.accuracy import accuracy, correct_matrix, predict_many

FIT = "predictor_fit.json"


class Ranker(NamedTuple):
  params: Any
  model: Predictor


def _init(config: Any, z_dim: int, e_dim: int):
  model = Predictor(config.predictor.hidden)
  return model, lambda key: model.init(key, jnp.zeros((1, z_dim)), jnp.zeros((1, e_dim)))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
  ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
  return float(np.corrcoef(ra, rb)[0, 1])


def _scored(config, generator, data, tasks, inputs, z, emb) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray, np.ndarray]:
  """(noisy latents (M, Z), embeddings (M, E), val accuracy in [0, 1] (M,), model id (M,)) of
  models of the first architecture (`inputs` its ZooInputs, `tasks` each model's Task)."""
  p = config.predictor
  rows = np.flatnonzero(data.arch_ids == 0)
  rows = rows[np.random.default_rng(p.rows).permutation(len(rows))[:p.rows]]
  key = jax.random.key(config.predictor_train.seed)
  first = core.for_architecture(generator, 0)
  decode = jax.jit(lambda zz: core.decode_models(first, zz))
  x_val, y_val = inputs.dataset.split("val")
  out = []
  for level, sigma in enumerate(p.noise):
    noisy = z[rows] + sigma * np.asarray(jax.random.normal(jax.random.fold_in(key, level),
                                                           z[rows].shape))
    pred = predict_many(inputs.target.apply, decode(jnp.asarray(noisy, jnp.float32)), x_val,
                        budget_bytes=memory.budget_bytes(config.get("memory")))
    acc = np.empty(len(rows))
    for i, r in enumerate(rows):
      task = tasks[r]
      labels, used = task.relabel(y_val)
      acc[i] = accuracy(correct_matrix(pred[i:i + 1], labels, used), used)[0] / 100
    out.append((noisy, emb[data.task_ids[rows]], acc, rows))
  return tuple(np.concatenate(parts) for parts in zip(*out))


def train(config: Any, workdir: str, generator: core.Generator, zoo: Any, conditions: dict,
          seen: list, inputs: Any) -> None:
  """Trains the predictor (workdir/predictor) on the generator's training zoo and conditions
  (`core.train`'s), and writes its held-out fit."""
  data = vectors.training_data(config.vae.chunk, generator.codecs, zoo, conditions)
  z = core.latents(generator, data.vectors)
  emb = core.embed_support(config, generator.dims, generator.aligner, data.support[:, 0],
                           data.support_mask[:, 0])
  tasks = [seen[t] for t in np.asarray(conditions["task"])]
  zs, es, acc, ids = _scored(config, generator, data, tasks, inputs, z, emb)
  held = np.isin(ids, np.unique(ids)[::5])
  model, init = _init(config, zs.shape[1], es.shape[1])
  fit_rows = np.flatnonzero(~held)
  pick = recipe.random_rows(config.predictor_train.seed + 1, len(fit_rows),
                            config.predictor_train.batch_size)

  def loss_fn(p, b, rng):
    loss = jnp.mean(jnp.square(model.apply(p, b["z"], b["e"]) - b["acc"]))
    return loss, {"loss": loss}

  params = recipe.train_generator(
      config.predictor_train, config.get("mesh"), init_params=init, loss_fn=loss_fn,
      batch_fn=lambda step: {"z": zs[fit_rows[pick(step)]], "e": es[fit_rows[pick(step)]],
                             "acc": acc[fit_rows[pick(step)]].astype(np.float32)},
      workdir=os.path.join(workdir, "predictor"), desc="train accuracy predictor")
  guess = np.asarray(model.apply(params, zs[held], es[held]))
  fit = {"held_out_spearman": _spearman(guess, acc[held]),
         "held_out_mae": float(np.mean(np.abs(guess - acc[held]))),
         "accuracy_range": [float(acc.min()), float(acc.max())], "examples": int(len(acc))}
  if hosts.is_writer():
    atomic_write_json(os.path.join(workdir, FIT), fit)
  print(f"accuracy predictor: held-out Spearman {fit['held_out_spearman']:.3f}, "
        f"MAE {fit['held_out_mae']:.3f} over {int(held.sum())} noisy models")


def load(config: Any, workdir: str, generator: core.Generator) -> Ranker:
  model, init = _init(config, generator.dims[1], config.align.proj_dim)
  params, _ = recipe.load_trained_params(config.predictor_train,
                                         os.path.join(workdir, "predictor"), init)
  return Ranker(params, model)


def top(rank: Ranker, z: jax.Array, conditions: dict, models: Any, n: int) -> Any:
  """The n of `models` (stacked, with latents z (M, Z), made from the rows of conditions'
  embedding (M, E)) the predictor scores highest."""
  scores = np.asarray(rank.model.apply(rank.params, z, jnp.asarray(conditions["embedding"])))
  best = np.argsort(-scores, kind="stable")[:n]
  return jax.tree_util.tree_map(lambda a: np.asarray(a)[best], models)
