"""RPG in memory: the protocol (`paramgen_jax.protocol`) on a zoo of one architecture.

    from paramgen_jax.methods import rpg
    config = rpg.small_config()                       # or the sections of configs/rpg_*.py
    generator = rpg.train(zoo, config)                # zoo: a pytree, leaves (N, ...)
    models = rpg.generate(generator, jax.random.key(1), None, 4)   # leaves (4, ...)
    rpg.save(generator, "runs/my_rpg"); generator = rpg.load("runs/my_rpg")

The generator is conditional exactly when `train` gets conditions (N, C): then `generate`
takes one condition per model, (num_models, C). No file is read or written unless `train`
is given a `workdir` (the pipeline's train stage does: checkpoints, resume, metrics).
`config` needs the sections tokens, generator, diffusion, train, sample and generate (mode,
chunk) of an RPG config, and optionally mesh (training's device mesh).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct

from paramgen_jax import configlib
from paramgen_jax import artifact, precision
from paramgen_jax.methods.rpg import token_parallel
from paramgen_jax.methods.rpg.model import RPGGenerator, rpg_loss, sample_tokens
from paramgen_jax.params.codec import TokenCodec
from paramgen_jax.params.layout import ParamLayout
from paramgen_jax.params import regression
from paramgen_jax.train import recipe

PyTree = Any
METHOD = "rpg"
CODEC = "tokens"  # the codec's name in the generator directory


@struct.dataclass
class Generator:
  """A trained RPG generator: everything `generate` needs.

  params: the network's Flax variables to sample with (EMA when kept), the leaves with ridge;
  codec: the fitted TokenCodec; config: the RPG sections (a FrozenConfigDict);
  num_permutations: permutation states (0: none; `permutation_ids`); condition_dim: width C
  of the condition vector (0: unconditional); ridge: (C+1, P) the regression from the
  condition to the weights that the generated tokens are added to
  (`generator.residual = 'ridge'`), or None.
  """
  params: PyTree
  codec: TokenCodec = struct.field(pytree_node=False)
  config: Any = struct.field(pytree_node=False)
  num_permutations: int = struct.field(pytree_node=False)
  condition_dim: int = struct.field(pytree_node=False)
  ridge: jax.Array | None = None


def small_config() -> ml_collections.ConfigDict:
  """A recipe for small models on a CPU (a few thousand parameters, well under a minute on 2
  cores); change any field. The sections of configs/rpg_convnext.py that the in-memory API
  reads."""
  return ml_collections.ConfigDict(dict(
      tokens=dict(size=64, granularity="layer", normalization="layer"),
      generator=dict(d_model=64, prototype_dim=64, prototype_hidden=0, backbone="mamba",
                     backbone_options=dict(num_layers=1, d_state=8, d_conv=4, expand=2,
                                           mode="scan"),
                     position="2d", permutation="checkpoint", condition="none",
                     unet_encoder=(16, 32), unet_decoder=(16,), denoiser_conditioning="per_layer",
                     diffusion_batch=128, residual="none", ridge_lambda=100.0),
      diffusion=dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                     prediction="x0"),
      train=configlib.train_section(steps=500, batch_size=8, lr=3e-3, warmup_steps=50,
                                    log_every=50, checkpoint_every=500, keep_checkpoints=1),
      sample=dict(sampler="ddim", steps=30, eta=0.05, num_samples=1, seed=1, clip_x0=None,
                  compute_dtype="float32"),
      generate=dict(mode="parallel", chunk=64)))


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
  model = make_model(config, num_permutations, condition_dim)
  schedule = recipe.schedule_from_section(config.diffusion)
  layer, token = _coordinates(codec)
  mask = jnp.asarray(codec.plan.mask)

  def loss_fn(params, batch, rng):
    full = dict(batch, mask=mask, layer_index=layer, token_in_layer=token)
    return rpg_loss(model, params, full, rng, schedule,
                    diffusion_batch=config.generator.diffusion_batch,
                    prediction=config.diffusion.prediction)
  return loss_fn


def permutation_ids(kind: str, count: int, seeds: Any = None,
                    conditions: np.ndarray | None = None) -> np.ndarray | None:
  """(count,) int32 permutation state of each checkpoint, or None ('none').

  'checkpoint': the checkpoint's index among those of its condition (all of them when
  unconditional), so that a state and a condition together name one checkpoint, and every
  condition meets every state (a seen or unseen condition takes any state at generation);
  'seed': one state per training seed (`seeds` (count,) needed).
  """
  if kind == "checkpoint":
    if conditions is None:
      return np.arange(count, dtype=np.int32)
    group = np.unique(conditions, axis=0, return_inverse=True)[1].reshape(-1)
    order = np.argsort(group, kind="stable")
    ranks = np.empty(count, np.int32)  # position in the sorted groups - the group's start
    ranks[order] = np.arange(count) - np.searchsorted(group[order], group[order])
    return ranks
  if kind == "seed":
    if seeds is None:
      raise ValueError("generator.permutation = 'seed' needs each checkpoint's seed: "
                       "train(..., seeds=...)")
    distinct = sorted(set(int(s) for s in seeds))
    return np.asarray([distinct.index(int(s)) for s in seeds], np.int32)
  return None


def _batch_fn(train_cfg: Any, tokens: np.ndarray, permutation, conditions):
  pick = recipe.random_rows(train_cfg.seed + 1, len(tokens), train_cfg.batch_size)

  def batch_fn(step):
    rows = pick(step)
    batch = {"tokens": tokens[rows]}
    if permutation is not None:
      batch["permutation"] = permutation[rows]
    if conditions is not None:
      batch["condition"] = conditions[rows]
    return batch
  return batch_fn


def _checked_conditions(conditions: Any, count: int) -> np.ndarray | None:
  """conditions (count, C) as float32, or None; ValueError (one line) for another shape."""
  if conditions is None:
    return None
  conditions = np.asarray(conditions, np.float32)
  if conditions.ndim != 2 or len(conditions) != count:
    raise ValueError(f"RPG conditions must be (N, C), one vector per model of the zoo "
                     f"(N = {count}), got shape {conditions.shape}")
  return conditions


def _ridge_residuals(zoo: PyTree, config: Any, conditions: np.ndarray | None
                     ) -> tuple[PyTree, np.ndarray | None]:
  """(the zoo the tokens encode, the regression's coefficients or None): with
  `generator.residual = 'ridge'`, each model minus its task's ridge prediction fitted
  without that task (`regression.task_residuals`)."""
  if config.generator.get("residual", "none") != "ridge":
    return zoo, None
  if conditions is None:
    raise ValueError("generator.residual = 'ridge' needs conditions: it regresses the weights "
                     "on them")
  layout = ParamLayout.from_template(jax.tree_util.tree_map(lambda leaf: leaf[0], zoo))
  return regression.ridge_residuals(layout, zoo, conditions, config.generator.ridge_lambda)


def train(zoo: PyTree, config: Any, *, conditions: Any = None, workdir: str | None = None,
          seeds: Any = None) -> Generator:
  """Trains RPG on a zoo (N, ...) of one architecture.

  Args:
    zoo: a pytree of stacked models, leaves (N, ...).
    conditions: (N, C) one condition vector per model, for a conditional generator; None
      for an unconditional one.
    workdir: checkpoint, resume and log the training there (default: in memory).
    seeds: (N,) each model's training seed, needed by generator.permutation = 'seed'.
  """
  count = len(jax.tree_util.tree_leaves(zoo)[0])
  conditions = _checked_conditions(conditions, count)
  zoo, ridge = _ridge_residuals(zoo, config, conditions)
  codec = TokenCodec.fit(zoo, token_size=config.tokens.size,
                         granularity=config.tokens.granularity,
                         normalization=config.tokens.get("normalization", "layer"))
  tokens = np.asarray(jax.vmap(codec.encode)(zoo))
  permutation = permutation_ids(config.generator.permutation, len(tokens), seeds, conditions)
  num_permutations = 0 if permutation is None else int(permutation.max()) + 1
  condition_dim = 0 if conditions is None else conditions.shape[1]
  params = recipe.train_generator(
      config.train, config.get("mesh"),
      init_params=init_fn(config, codec, num_permutations, condition_dim),
      loss_fn=loss_function(config, codec, num_permutations, condition_dim),
      batch_fn=_batch_fn(config.train, tokens, permutation, conditions),
      workdir=workdir, desc="train rpg")
  return Generator(params, codec, artifact.frozen(config), num_permutations, condition_dim,
                   ridge)


def _check_generate_args(generator: Generator, conditions: Any, num_models: int) -> None:
  """ValueError (one line) unless conditions fit the generator: None or (num_models, C)."""
  if generator.condition_dim == 0 and conditions is not None:
    raise ValueError("this RPG generator is unconditional: pass conditions=None")
  want, got = (num_models, generator.condition_dim), np.shape(conditions)
  if generator.condition_dim and (conditions is None or got != want):
    raise ValueError(f"RPG conditions must be (num_models, C) = {want}, one vector per "
                     f"generated model, got {None if conditions is None else got}")


def generate(generator: Generator, key: jax.Array, conditions: Any, num_models: int, *,
             mesh: jax.sharding.Mesh | None = None) -> PyTree:
  """`num_models` models drawn with `key`, stacked (num_models, ...).

  Args:
    conditions: (num_models, C) one condition per model for a conditional generator, else
      None.
    mesh: sample the tokens split over this mesh's devices (`token_parallel`): the same
      models up to float rounding, in a fraction of the memory per device.

  Model m's permutation state is draw m of randint(split(key)[0], (num_models,)), its
  tokens' keys fold_in(split(key)[1], m·S + s) (S tokens per model). Traceable: jit it
  with num_models static.
  """
  if num_models < 1:
    raise ValueError(f"num_models must be >= 1, got {num_models}")
  _check_generate_args(generator, conditions, num_models)
  config, codec = generator.config, generator.codec
  model = make_model(config, generator.num_permutations, generator.condition_dim)
  layer, token = _coordinates(codec)
  perm_key, token_key = jax.random.split(key)
  perm = (jax.random.randint(perm_key, (num_models,), 0, generator.num_permutations)
          if generator.num_permutations else None)
  cond = None if conditions is None else jnp.asarray(conditions, jnp.float32)
  dtype = precision.section_dtype(config.sample)
  params = precision.cast_floating(generator.params, dtype)
  sample = (sample_tokens if mesh is None
            else functools.partial(token_parallel.sample_tokens_sharded, mesh=mesh))
  with precision.autocast(dtype):
    proto = model.apply(params, layer, token, perm, cond, num_models,
                        method=RPGGenerator.prototypes)
    tokens = sample(model, params, proto.reshape(-1, proto.shape[-1]), token_key,
                    recipe.schedule_from_section(config.diffusion), mode=config.generate.mode,
                    chunk=config.generate.chunk,
                    **recipe.sampler_kwargs(config.sample, config.diffusion.prediction))
  models = jax.vmap(codec.decode)(tokens.astype(jnp.float32).reshape(
      num_models, codec.plan.num_tokens, config.tokens.size))
  if generator.ridge is None:
    return models
  return regression.add_ridge(codec.layout, generator.ridge, cond, models)


RIDGE = "ridge_coefficients"  # beside the network's variable collections in the saved arrays


def save(generator: Generator, path: str) -> None:
  """Writes `generator` to the directory `path` (`artifact`): its network, codec, config and
  regression (if any)."""
  arrays = (generator.params if generator.ridge is None
            else {**generator.params, RIDGE: generator.ridge})
  artifact.save(path, method=METHOD, arrays=arrays, config=generator.config,
                codecs={CODEC: generator.codec},
                meta={"num_permutations": generator.num_permutations,
                      "condition_dim": generator.condition_dim})


def load(path: str) -> Generator:
  """The generator `save` wrote in `path`.

  Raises (one line): FileNotFoundError (no directory), CorruptDataError (incomplete,
  altered, or another method's generator).
  """
  found = artifact.load(path, method=METHOD)
  params = dict(found.arrays)
  ridge = params.pop(RIDGE, None)
  return Generator(params, found.codecs[CODEC], found.config,
                   int(found.meta["num_permutations"]), int(found.meta["condition_dim"]), ridge)
