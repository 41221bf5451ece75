"""RPG in memory: train a generator on stacked checkpoints, generate stacked parameters.

    from paramgen_jax.methods import rpg
    config = rpg.small_config()                       # or the sections of configs/rpg_*.py
    generator = rpg.train(stacked, config)            # stacked: a pytree, leaves (N, ...)
    models = rpg.generate_all(generator, jax.random.key(1))   # leaves (num_models, ...)

No file is read or written unless `train` is given a `workdir` (the pipeline's `train`
stage does: checkpoints, resume, metrics). `config` needs the sections tokens, generator,
diffusion, train, sample, generate (and optionally memory, mesh) of an RPG config.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from paramgen_jax import memory
from paramgen_jax import stage_helpers as H
from paramgen_jax.methods.rpg import token_parallel
from paramgen_jax.methods.rpg.model import RPGGenerator, rpg_loss, sample_tokens
from paramgen_jax.params.codec import TokenCodec

PyTree = Any


class Generator(NamedTuple):
  """A trained RPG generator: everything `generate` needs.

  params: the network's parameters to sample with (EMA when kept); codec: the fitted
  TokenCodec; config: the RPG sections; num_permutations: permutation states (0: none);
  condition_dim: width of the condition vector (0: unconditional).
  """
  params: PyTree
  codec: TokenCodec
  config: Any
  num_permutations: int
  condition_dim: int


def small_config() -> ml_collections.ConfigDict:
  """A recipe for small models on a CPU (a few thousand parameters, about a minute on 2
  cores); change any field. The same sections as configs/rpg_convnext.py."""
  return ml_collections.ConfigDict(dict(
      tokens=dict(size=64, granularity="layer"),
      generator=dict(d_model=64, prototype_dim=64, prototype_hidden=0, backbone="mamba",
                     backbone_options=dict(num_layers=1, d_state=8, d_conv=4, expand=2,
                                           mode="scan"),
                     position="2d", permutation="checkpoint", condition="none",
                     unet_encoder=(16, 32), unet_decoder=(16,), denoiser_conditioning="per_layer",
                     diffusion_batch=128),
      diffusion=dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                     prediction="x0"),
      train=dict(steps=1000, batch_size=8, lr=3e-3, warmup_steps=50, final_lr_ratio=0.0,
                 weight_decay=0.0, b1=0.9, b2=0.999, clip_norm=1.0, ema_decay=0.0,
                 compute_dtype="float32", log_every=50, checkpoint_every=500,
                 keep_checkpoints=1, seed=0, fsdp_min_size=2**20),
      sample=dict(sampler="ddim", steps=30, eta=0.05, num_samples=1, seed=1, clip_x0=None),
      generate=dict(num_models=4, mode="parallel", chunk=64),
      memory=dict(budget_gb=2.0)))


def make_model(config: Any, num_permutations: int, condition_dim: int) -> RPGGenerator:
  g = config.generator
  return RPGGenerator(
      token_size=config.tokens.size, d_model=g.d_model, prototype_dim=g.prototype_dim,
      prototype_hidden=g.prototype_hidden, backbone=g.backbone,
      backbone_options=dict(g.backbone_options), position=g.position,
      num_permutations=num_permutations, condition_dim=condition_dim,
      unet_encoder=tuple(g.unet_encoder), unet_decoder=tuple(g.unet_decoder),
      # Generators trained before the option existed had per-layer conditioning.
      denoiser_conditioning=g.get("denoiser_conditioning", "per_layer"))


def _coordinates(codec: TokenCodec) -> tuple[jax.Array, jax.Array]:
  return jnp.asarray(codec.plan.layer_index), jnp.asarray(codec.plan.token_in_layer)


def init_fn(config: Any, codec: TokenCodec, num_permutations: int, condition_dim: int):
  """key -> the network's initial parameters."""
  model, (layer, token) = make_model(config, num_permutations, condition_dim), _coordinates(codec)
  perm = jnp.zeros((1,), jnp.int32) if num_permutations else None
  cond = jnp.zeros((1, condition_dim)) if condition_dim else None
  return lambda key: model.init(key, layer, token, perm, cond,
                                jnp.zeros((1, config.tokens.size)), jnp.zeros((1,), jnp.int32))


def loss_function(config: Any, codec: TokenCodec, num_permutations: int, condition_dim: int):
  """`(params, batch, rng) -> (loss, metrics)`, the training loss of the config's generator;
  batch: {'tokens': (B, S, T), and 'permutation' (B,) and/or 'condition' (B, C)}."""
  model, schedule = make_model(config, num_permutations, condition_dim), H.schedule_from_config(
      config.diffusion)
  layer, token = _coordinates(codec)
  mask = jnp.asarray(codec.plan.mask)

  def loss_fn(params, batch, rng):
    full = dict(batch, mask=mask, layer_index=layer, token_in_layer=token)
    return rpg_loss(model, params, full, rng, schedule,
                    diffusion_batch=config.generator.diffusion_batch,
                    prediction=config.diffusion.prediction)
  return loss_fn


def permutation_ids(kind: str, count: int, seeds: Any = None) -> np.ndarray | None:
  """(count,) int32 permutation state of each checkpoint: its own ('checkpoint'), one per
  training seed ('seed', `seeds` (count,) needed), or None ('none')."""
  if kind == "checkpoint":
    return np.arange(count, dtype=np.int32)
  if kind == "seed":
    if seeds is None:
      raise ValueError("generator.permutation = 'seed' needs each checkpoint's seed")
    distinct = sorted(set(int(s) for s in seeds))
    return np.asarray([distinct.index(int(s)) for s in seeds], np.int32)
  return None


def _batch_fn(config: Any, tokens: np.ndarray, permutation, conditions):
  pick = H.random_rows(config.train.seed + 1, len(tokens), config.train.batch_size)

  def batch_fn(step):
    rows = pick(step)
    batch = {"tokens": tokens[rows]}
    if permutation is not None:
      batch["permutation"] = permutation[rows]
    if conditions is not None:
      batch["condition"] = conditions[rows]
    return batch
  return batch_fn


def train(stacked: PyTree, config: Any, *, conditions: np.ndarray | None = None,
          seeds: Any = None, codec: TokenCodec | None = None,
          workdir: str | None = None) -> Generator:
  """Trains RPG on stacked checkpoints (N, ...) of one architecture.

  Args:
    conditions: (N, C) one condition vector per checkpoint, when generator.condition is
      not 'none'.
    seeds: (N,) each checkpoint's training seed, for generator.permutation = 'seed'.
    codec: a fitted codec to use (default: fitted on `stacked`).
    workdir: checkpoint, resume and log the training there (default: in memory).
  """
  codec = codec or TokenCodec.fit(stacked, token_size=config.tokens.size,
                                  granularity=config.tokens.granularity)
  tokens = np.asarray(jax.vmap(codec.encode)(stacked))
  permutation = permutation_ids(config.generator.permutation, len(tokens), seeds)
  if (conditions is None) != (config.generator.condition == "none"):
    raise ValueError(f"generator.condition = {config.generator.condition!r}: pass conditions "
                     "(N, C) exactly when the generator is conditional")
  conditions = None if conditions is None else np.asarray(conditions, np.float32)
  num_permutations = 0 if permutation is None else int(permutation.max()) + 1
  condition_dim = 0 if conditions is None else conditions.shape[1]
  state = H.train_generator(
      config.train, config, init_params=init_fn(config, codec, num_permutations, condition_dim),
      loss_fn=loss_function(config, codec, num_permutations, condition_dim),
      batch_fn=_batch_fn(config, tokens, permutation, conditions),
      workdir=workdir, desc="train rpg")
  # Host copies: the state may live on a mesh, generation compiles for the default device.
  return Generator(jax.device_get(state.eval_params()), codec, config, num_permutations,
                   condition_dim)


def generate(generator: Generator, key: jax.Array, condition: Any = None, *,
             num_models: int | None = None, first: int | jax.Array = 0,
             mesh: jax.sharding.Mesh | None = None) -> PyTree:
  """Models first .. first + num_models - 1 of the `generate.num_models` drawn with `key`
  (default: all), stacked (num_models, ...); condition (C,) for a conditional generator.

  Model m is the same whichever chunk makes it: its permutation state and token keys depend
  on `key` and m only. Traceable (jit it; `first` may be traced). With a `mesh`, the tokens
  are sampled split over its devices (`token_parallel`): the same models.
  """
  config, codec = generator.config, generator.codec
  model = make_model(config, generator.num_permutations, generator.condition_dim)
  total = config.generate.num_models
  n = total if num_models is None else num_models
  layer, token = _coordinates(codec)
  perm_key, token_key = jax.random.split(key)
  perm = (None if not generator.num_permutations else jnp.take(
      jax.random.randint(perm_key, (total,), 0, generator.num_permutations),
      first + jnp.arange(n), mode="clip"))
  cond = (None if condition is None
          else jnp.broadcast_to(jnp.asarray(condition), (n,) + np.shape(condition)))
  proto = model.apply(generator.params, layer, token, perm, cond, n,
                      method=RPGGenerator.prototypes)
  sample = (sample_tokens if mesh is None
            else functools.partial(token_parallel.sample_tokens_sharded, mesh=mesh))
  tokens = sample(model, generator.params, proto.reshape(-1, proto.shape[-1]),
                  token_key, H.schedule_from_config(config.diffusion),
                  mode=config.generate.mode, chunk=config.generate.chunk,
                  first=first * codec.plan.num_tokens, **H.sampler_kwargs(config))
  return jax.vmap(codec.decode)(tokens.reshape(n, codec.plan.num_tokens, config.tokens.size))


def generation_plan(generator: Generator, condition: Any, key: jax.Array) -> tuple[int, Any]:
  """(models per call, compiled `generate` of that many, taking (params, condition, key,
  first)): as many as fit the config's memory budget (XLA's plan), all when they fit."""
  def make(count):
    return lambda p, c, k, first: generate(generator._replace(params=p), k, c,
                                           num_models=count, first=first)
  return memory.plan_count(make, (generator.params, condition, key, np.int32(0)),
                           generator.config.generate.num_models,
                           memory.budget_bytes(generator.config.get("memory")),
                           what="RPG generation of one model (generate.num_models)")


def generate_all(generator: Generator, key: jax.Array, condition: Any = None) -> PyTree:
  """All `generate.num_models` models for one condition, chunked to the memory budget."""
  n = generator.config.generate.num_models
  size, run = generation_plan(generator, condition, key)
  return H.generate_in_chunks(
      lambda first: run(generator.params, condition, key, np.int32(first)), n, size)
