"""p-diff / COND P-DIFF in memory: the protocol (`paramgen_jax.protocol`) on stacked
checkpoints.

    from paramgen_jax.methods import pdiff
    generator = pdiff.train(zoo, pdiff.small_config())           # one task, unconditional
    models = pdiff.generate(generator, key, None, num_models=8)   # leaves (8, ...)

    # COND P-DIFF: one condition per checkpoint, (N, C) vectors ((N,) task indices for
    # generator.condition = 'learned'); equal conditions form one task
    generator = pdiff.train(zoo, config, conditions=conditions)
    models = pdiff.generate(generator, key, wanted, num_models=len(wanted))  # wanted (M, C)

Each generated model is denormalized with the statistics of its condition's task. For a
condition not seen in training, `generator.unseen_stats` says which: 'nearest', the seen task
nearest by cosine (`conditions.stats_rows`), or 'ridge', per coordinate a ridge regression of
the seen tasks' means and log standard deviations on their conditions (`fit_stats_map`), so
that a new task does not take another task's adapter as its centre.
No file is read or written unless `train` gets a `workdir` (then autoencoder/, diffusion/
with checkpoints and resume, and latents.npz). `config` needs the sections autoencoder,
autoencoder_train, generator, diffusion, train, sample (optionally mesh).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct

from paramgen_jax import configlib
from paramgen_jax import artifact, hosts, precision
from paramgen_jax.methods.pdiff.conditions import equal_rows, seen_tasks, stats_rows
from paramgen_jax.methods.pdiff.model import (LatentDenoiser, LatentScale, latent_diffusion_loss,
                                              sample_latents)
from paramgen_jax.nn.autoencoder1d import ParamAutoencoder, autoencoder_loss
from paramgen_jax.params.codec import FlatCodec
from paramgen_jax.params.regression import Ridge, held_out_lambda, predict_weights
from paramgen_jax.train import recipe

PyTree = Any
METHOD = "pdiff"
LATENTS = "latents.npz"
UNSEEN_STATS = ("nearest", "ridge")


@struct.dataclass
class Generator:
  """A trained p-diff generator.

  ae_params, den_params: the autoencoder's and the latent denoiser's variables (EMA when kept);
  scale: the latents' standardization (scalars);
  seen: (T, ...) the condition of each seen task, row k normalized by row k of the codec's
    statistics; None for an unconditional generator (one task);
  codec: the fitted FlatCodec (static); config: a FrozenConfigDict (static);
  stats_map: for generator.unseen_stats = 'ridge', {'mean', 'log_std': (C+1, num_params)}
    (`fit_stats_map`), else None.
  """
  ae_params: PyTree
  den_params: PyTree
  scale: LatentScale
  seen: Any
  codec: FlatCodec = struct.field(pytree_node=False)
  config: Any = struct.field(pytree_node=False)
  stats_map: Any = None


def small_config() -> ml_collections.ConfigDict:
  """A recipe for small models (a few hundred parameters) that trains in well under a minute on a
  2-core CPU. Condition 'onehot' stands for any vector condition: every kind but 'learned'
  (task indices) embeds its vectors with the same MLP; without conditions it is unconditional.

  An 8-dimensional latent and x0-prediction: the denoiser has to put each sample on one of
  a few training latents (models of different seeds do not average), and an ε-predicting
  denoiser this short-trained diverges at the high-noise steps of DDIM."""
  train = lambda steps, lr, batch: configlib.train_section(
      steps=steps, batch_size=batch, lr=lr, warmup_steps=50, weight_decay=2e-6)
  return ml_collections.ConfigDict(dict(
      autoencoder=dict(channels=(16, 16), latent_dim=8, kernel=7, input_noise=1e-3,
                       latent_noise=0.1),
      autoencoder_train=train(750, 2e-3, 16),
      generator=dict(normalization="task", condition="onehot", unseen_stats="nearest",
                     embed_dim=32,
                     unet_encoder=(32, 64), unet_decoder=(32,),
                     denoiser_conditioning="per_layer"),
      diffusion=dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                     prediction="x0"),
      train=train(750, 3e-3, 16),
      sample=dict(sampler="ddim", steps=50, eta=0.0, clip_x0=None, compute_dtype="float32")))


def autoencoder(config: Any, codec: FlatCodec) -> ParamAutoencoder:
  a = config.autoencoder
  return ParamAutoencoder(codec.length, tuple(a.channels), a.latent_dim, a.kernel)


def denoiser(config: Any, codec: FlatCodec, conditional: bool) -> LatentDenoiser:
  """The latent denoiser; unconditional whatever `generator.condition` says when the
  generator was trained without conditions."""
  g = config.generator
  return LatentDenoiser(g.condition if conditional else "none", len(codec.tasks), g.embed_dim,
                        tuple(g.unet_encoder), tuple(g.unet_decoder),
                        # Generators trained before the option existed had per-layer ones.
                        conditioning=g.get("denoiser_conditioning", "per_layer"))


def autoencoder_init(config: Any, codec: FlatCodec):
  model = autoencoder(config, codec)
  return lambda key: model.init(key, jnp.zeros(codec.length))


def denoiser_init(config: Any, codec: FlatCodec, condition_example: Any):
  """condition_example: (1, ...) one condition (it fixes the input's shape), or None."""
  model = denoiser(config, codec, condition_example is not None)
  dim = config.autoencoder.latent_dim
  return lambda key: model.init(key, jnp.zeros((1, dim)), jnp.zeros((1,), jnp.int32),
                                condition_example)


def fit_codec(zoo: PyTree, config: Any, task_ids: np.ndarray, num_tasks: int) -> FlatCodec:
  """The codec of `config`: its normalization (task_ids (N,) in [0, num_tasks)), padded for
  the autoencoder's stages."""
  return FlatCodec.fit(zoo, task_ids, tuple(f"task {k}" for k in range(num_tasks)),
                       normalization=config.generator.normalization,
                       multiple=2 ** len(config.autoencoder.channels))


def encode_all(model: ParamAutoencoder, params: Any, vectors: np.ndarray,
               chunk: int = 256) -> np.ndarray:
  """(N, length) -> (N, latent_dim) noise-free latents."""
  encode = jax.jit(jax.vmap(lambda v: model.apply(params, v, method=ParamAutoencoder.encode)))
  return np.concatenate([np.asarray(encode(vectors[i:i + chunk]))
                         for i in range(0, len(vectors), chunk)])


def _train_autoencoder(config: Any, codec: FlatCodec, vectors: np.ndarray,
                       workdir: str | None) -> Any:
  a, model, mask = config.autoencoder, autoencoder(config, codec), jnp.asarray(codec.mask)
  pick = recipe.random_rows(config.autoencoder_train.seed + 1, len(vectors),
                            config.autoencoder_train.batch_size)
  return recipe.train_generator(
      config.autoencoder_train, config.get("mesh"), init_params=autoencoder_init(config, codec),
      loss_fn=lambda p, batch, rng: autoencoder_loss(model, p, batch["x"], rng,
                                                     input_noise=a.input_noise,
                                                     latent_noise=a.latent_noise, mask=mask),
      batch_fn=lambda step: {"x": vectors[pick(step)]},
      workdir=workdir and os.path.join(workdir, "autoencoder"), desc="train autoencoder")


def _train_denoiser(config: Any, codec: FlatCodec, scaled: np.ndarray, conditions: Any,
                    workdir: str | None) -> Any:
  model = denoiser(config, codec, conditions is not None)
  schedule = recipe.schedule_from_section(config.diffusion)
  pick = recipe.random_rows(config.train.seed + 1, len(scaled), config.train.batch_size)

  def batch_fn(step):
    rows = pick(step)
    return {"z": scaled[rows]} if conditions is None else {"z": scaled[rows],
                                                           "cond": conditions[rows]}

  return recipe.train_generator(
      config.train, config.get("mesh"),
      init_params=denoiser_init(config, codec, None if conditions is None else conditions[:1]),
      loss_fn=lambda p, batch, rng: latent_diffusion_loss(
          model, p, batch["z"], batch.get("cond"), rng, schedule, config.diffusion.prediction),
      batch_fn=batch_fn, workdir=workdir and os.path.join(workdir, "diffusion"),
      desc="train latent diffusion")


def _checked_conditions(config: Any, conditions: Any, count: int) -> np.ndarray | None:
  """The training conditions as an array (N, ...), or None; ValueError (one line) when they
  do not fit `generator.condition` or the zoo."""
  kind = config.generator.condition
  if conditions is None:
    return None
  conditions = np.asarray(conditions)
  if kind == "none":
    raise ValueError("p-diff: generator.condition = 'none' takes no conditions; pass "
                     "conditions=None, or set a condition kind (e.g. 'onehot' for vectors)")
  if len(conditions) != count:
    raise ValueError(f"p-diff: {len(conditions)} conditions for {count} checkpoints; pass one "
                     "per checkpoint (leading axis N)")
  if kind == "learned" and (conditions.ndim != 1
                            or not np.issubdtype(conditions.dtype, np.integer)):
    raise ValueError("p-diff: generator.condition = 'learned' takes task indices (N,) int, "
                     f"got {conditions.dtype} {conditions.shape}")
  if kind != "learned" and conditions.ndim != 2:
    raise ValueError(f"p-diff: conditions must be vectors (N, C), got shape {conditions.shape}")
  return conditions


def train(zoo: PyTree, config: Any, *, conditions: Any = None,
          workdir: str | None = None, mean_lambda: float | None = None) -> Generator:
  """Fits the codec, trains the autoencoder, then the latent denoiser, on stacked
  checkpoints (leaves (N, ...)).

  Args:
    conditions: (N, C) each checkpoint's condition vector ((N,) int task indices in
      [0, T) for generator.condition = 'learned'); checkpoints with equal conditions form
      one task (its normalization statistics). None: unconditional, one task.
    workdir: checkpoint, resume and log there, and write latents.npz (default: in memory).
    mean_lambda: with unseen_stats 'ridge', the penalty of the mean's regression (the
      pipeline picks it by held-out accuracy, `eval.fitted.ridge_lambda`); None: by
      held-out squared error (`fit_stats_map`).
  """
  config = artifact.frozen(config)
  count = jax.tree_util.tree_leaves(zoo)[0].shape[0]
  conditions = _checked_conditions(config, conditions, count)
  if unseen_stats(config) not in UNSEEN_STATS or (
      unseen_stats(config) == "ridge" and config.generator.condition == "learned"):
    raise ValueError(f"p-diff: generator.unseen_stats must be one of {UNSEEN_STATS} ('ridge' "
                     f"needs condition vectors, not 'learned'), got {unseen_stats(config)!r}")
  seen, task_ids = ((None, np.zeros(count, np.int32)) if conditions is None
                    else seen_tasks(conditions))
  codec = fit_codec(zoo, config, task_ids, 1 if seen is None else len(seen))
  print(f"p-diff: {count} checkpoints of {len(codec.tasks)} tasks, "
        f"{codec.layout.num_params:,} parameters (padded to {codec.length}); "
        f"normalization {config.generator.normalization}, "
        f"condition {config.generator.condition if seen is not None else 'none'}")
  vectors = np.asarray(jax.vmap(codec.encode)(zoo, task_ids), np.float32)
  ae_params = _train_autoencoder(config, codec, vectors, workdir)
  latents = encode_all(autoencoder(config, codec), ae_params, vectors)
  scale = LatentScale.fit(latents)
  print(f"latents: mean {float(scale.mean):.3g}, std {float(scale.std):.3g} "
        f"(max |z| {np.abs(latents).max():.3g}); standardized for diffusion")
  if workdir and hosts.is_writer():
    np.savez(os.path.join(workdir, LATENTS), latents=latents, mean=np.asarray(scale.mean),
             std=np.asarray(scale.std))
  scaled = np.asarray(scale.forward(latents), np.float32)
  den_params = _train_denoiser(config, codec, scaled, conditions, workdir)
  stats_map = (fit_stats_map(seen, codec, mean_lambda)
               if seen is not None and unseen_stats(config) == "ridge" else None)
  return Generator(ae_params, den_params, scale, seen, codec, config, stats_map)


def unseen_stats(config: Any) -> str:
  """generator.unseen_stats ('nearest' for configs written before it existed)."""
  return config.generator.get("unseen_stats", "nearest")


def fit_stats_map(seen: np.ndarray, codec: FlatCodec,
                  mean_lambda: float | None = None) -> dict[str, np.ndarray]:
  """{'mean', 'log_std': (C+1, num_params) float32}: ridge regressions of the seen tasks'
  per-coordinate statistics on their conditions seen (T, C), the bias row last; the mean's
  λ `mean_lambda` when given, every other λ the one of least leave-one-task-out squared
  error (`held_out_lambda`)."""
  conds = np.asarray(seen, np.float64).reshape(len(seen), -1)
  out = {}
  for name, targets in (("mean", np.asarray(codec.stats.mean, np.float64)),
                        ("log_std", np.log(np.asarray(codec.stats.std, np.float64)))):
    given = mean_lambda if name == "mean" else None
    lam = held_out_lambda(conds, targets) if given is None else given
    out[name] = Ridge.fit(conds, targets).coefficients(lam).astype(np.float32)
    print(f"unseen tasks' statistics: {name} regressed on the condition, lambda {lam:g}")
  return out


def model_stats(generator: Generator, conditions: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(mean, std), each (M, num_params): the statistics model i is denormalized with, its
  condition's seen task's, else per `generator.unseen_stats`. Traceable."""
  stats = generator.codec.stats
  rows = stats_rows(generator.seen, conditions)
  mean, std = stats.mean[rows], stats.std[rows]
  if generator.stats_map is None:
    return mean, std
  known = equal_rows(generator.seen, conditions).any(-1)[:, None]
  flat = jnp.reshape(conditions, (conditions.shape[0], -1))
  regressed = lambda name: predict_weights(generator.stats_map[name], flat)
  return (jnp.where(known, mean, regressed("mean")),
          jnp.where(known, std, jnp.exp(regressed("log_std"))))


def _check_generate(generator: Generator, conditions: Any, num_models: int) -> None:
  if num_models < 1:
    raise ValueError(f"p-diff: num_models must be at least 1, got {num_models}")
  if generator.seen is None:
    if conditions is not None:
      raise ValueError("p-diff: this generator is unconditional; pass conditions=None")
    return
  want = (num_models,) + tuple(np.shape(generator.seen)[1:])
  got = None if conditions is None else tuple(np.shape(conditions))
  if got != want:
    raise ValueError(f"p-diff: conditions of shape {want} expected (one per generated model, "
                     f"as in training), got {got}")


def generate(generator: Generator, key: jax.Array, conditions: Any,
             num_models: int) -> PyTree:
  """`num_models` models (leaves (num_models, ...)), model i for conditions[i].

  conditions: (num_models, C) vectors ((num_models,) task indices for 'learned'), or None
  for an unconditional generator. Model i is denormalized with the statistics of its
  condition's seen task, or for a new condition as `generator.unseen_stats` says
  (`model_stats`). Traceable.
  """
  _check_generate(generator, conditions, num_models)
  config, codec = generator.config, generator.codec
  conditional = generator.seen is not None
  dtype = precision.section_dtype(config.sample)
  den_params, ae_params = precision.cast_floating((generator.den_params, generator.ae_params),
                                                  dtype)
  ae = autoencoder(config, codec)
  with precision.autocast(dtype):
    z = sample_latents(denoiser(config, codec, conditional), den_params, conditions,
                       num_models, config.autoencoder.latent_dim, key,
                       recipe.schedule_from_section(config.diffusion),
                       **recipe.sampler_kwargs(config.sample, config.diffusion.prediction))
    decoded = jax.vmap(lambda c: ae.apply(ae_params, c, method=ParamAutoencoder.decode))(
        generator.scale.inverse(z))
  decoded = decoded.astype(jnp.float32)
  if not conditional:
    return jax.vmap(codec.decode)(decoded, jnp.zeros((num_models,), jnp.int32))
  return jax.vmap(codec.decode_with)(decoded, *model_stats(generator, conditions))


def save(generator: Generator, path: str) -> None:
  """Writes the generator to the directory `path` (`artifact.save`)."""
  g = generator
  arrays = {"autoencoder": g.ae_params, "denoiser": g.den_params, "scale": g.scale._asdict()}
  if g.seen is not None:
    arrays["seen"] = g.seen
  if g.stats_map is not None:
    arrays["stats_map"] = g.stats_map
  artifact.save(path, method=METHOD, arrays=arrays, config=g.config, codecs={"params": g.codec},
                meta={"tasks": len(g.codec.tasks), "conditional": g.seen is not None})


def load(path: str) -> Generator:
  """The generator `save` wrote to `path`, verified (CorruptDataError, one line, when it is
  incomplete, altered or another method's)."""
  found = artifact.load(path, method=METHOD)
  arrays = found.arrays
  scale = LatentScale(jnp.asarray(arrays["scale"]["mean"]), jnp.asarray(arrays["scale"]["std"]))
  return Generator(arrays["autoencoder"], arrays["denoiser"], scale, arrays.get("seen"),
                   found.codecs["params"], found.config, arrays.get("stats_map"))
