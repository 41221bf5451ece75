"""p-diff / COND P-DIFF in memory: train the autoencoder and the latent diffusion on stacked
checkpoints, generate stacked parameters.

    from paramgen_jax.methods import pdiff
    generator = pdiff.train(stacked, config)                   # one task, unconditional
    models = pdiff.generate_all(generator, jax.random.key(1))  # leaves (num_models, ...)

    # conditional: task_ids (N,) index `tasks`; conditions (N, ...) one per checkpoint
    generator = pdiff.train(stacked, config, task_ids=ids, tasks=names, conditions=conds)
    models = pdiff.generate_all(generator, key, condition=c, stats_task=k)

No file is read or written unless `train` gets a `workdir` (then autoencoder/, diffusion/
with checkpoints and resume, and latents.npz). `config` needs the sections autoencoder,
autoencoder_train, generator, diffusion, train, sample, generate (optionally memory, mesh).
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import memory
from paramgen_jax import stage_helpers as H
from paramgen_jax.methods.pdiff.model import (LatentDenoiser, LatentScale, latent_diffusion_loss,
                                              sample_latents)
from paramgen_jax.nn.autoencoder1d import ParamAutoencoder, autoencoder_loss
from paramgen_jax.params.codec import FlatCodec

PyTree = Any
LATENTS = "latents.npz"


class Generator(NamedTuple):
  """A trained p-diff generator: autoencoder and denoiser parameters (EMA when kept), the
  latent standardization, the fitted FlatCodec, the config sections, and one example
  condition (1, ...) or None, which fixes the denoiser's condition input."""
  ae_params: PyTree
  den_params: PyTree
  scale: LatentScale
  codec: FlatCodec
  config: Any
  condition_example: Any


def autoencoder(config: Any, codec: FlatCodec) -> ParamAutoencoder:
  a = config.autoencoder
  return ParamAutoencoder(codec.length, tuple(a.channels), a.latent_dim, a.kernel)


def denoiser(config: Any, codec: FlatCodec) -> LatentDenoiser:
  g = config.generator
  return LatentDenoiser(g.condition, len(codec.tasks), g.embed_dim, tuple(g.unet_encoder),
                        tuple(g.unet_decoder),
                        # Generators trained before the option existed had per-layer ones.
                        conditioning=g.get("denoiser_conditioning", "per_layer"))


def autoencoder_init(config: Any, codec: FlatCodec):
  model = autoencoder(config, codec)
  return lambda key: model.init(key, jnp.zeros(codec.length))


def denoiser_init(config: Any, codec: FlatCodec, condition_example: Any):
  model, dim = denoiser(config, codec), config.autoencoder.latent_dim
  return lambda key: model.init(key, jnp.zeros((1, dim)), jnp.zeros((1,), jnp.int32),
                                condition_example)


def fit_codec(stacked: PyTree, config: Any, task_ids: np.ndarray,
              tasks: Sequence[str]) -> FlatCodec:
  """The codec of `config`: its normalization, padded for the autoencoder's stages."""
  return FlatCodec.fit(stacked, task_ids, tasks, normalization=config.generator.normalization,
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
  pick = H.random_rows(config.autoencoder_train.seed + 1, len(vectors),
                       config.autoencoder_train.batch_size)
  state = H.train_generator(
      config.autoencoder_train, config, init_params=autoencoder_init(config, codec),
      loss_fn=lambda p, batch, rng: autoencoder_loss(model, p, batch["x"], rng,
                                                     input_noise=a.input_noise,
                                                     latent_noise=a.latent_noise, mask=mask),
      batch_fn=lambda step: {"x": vectors[pick(step)]},
      workdir=workdir and os.path.join(workdir, "autoencoder"), desc="train autoencoder")
  return jax.device_get(state.eval_params())  # host copy: the state may live on a mesh


def _train_denoiser(config: Any, codec: FlatCodec, scaled: np.ndarray, conditions: Any,
                    workdir: str | None) -> Any:
  model, schedule = denoiser(config, codec), H.schedule_from_config(config.diffusion)
  pick = H.random_rows(config.train.seed + 1, len(scaled), config.train.batch_size)

  def batch_fn(step):
    rows = pick(step)
    return {"z": scaled[rows]} if conditions is None else {"z": scaled[rows],
                                                           "cond": conditions[rows]}

  state = H.train_generator(
      config.train, config,
      init_params=denoiser_init(config, codec, None if conditions is None else conditions[:1]),
      loss_fn=lambda p, batch, rng: latent_diffusion_loss(
          model, p, batch["z"], batch.get("cond"), rng, schedule, config.diffusion.prediction),
      batch_fn=batch_fn, workdir=workdir and os.path.join(workdir, "diffusion"),
      desc="train latent diffusion")
  return jax.device_get(state.eval_params())  # host copy: the state may live on a mesh


def train(stacked: PyTree, config: Any, *, task_ids: np.ndarray | None = None,
          tasks: Sequence[str] = ("task",), conditions: np.ndarray | None = None,
          codec: FlatCodec | None = None, workdir: str | None = None) -> Generator:
  """Trains the autoencoder, then the latent denoiser, on stacked checkpoints (N, ...).

  Args:
    task_ids: (N,) each checkpoint's index in `tasks` (default: all 0, one task).
    tasks: the task names, the rows of the per-task normalization statistics.
    conditions: (N, ...) each checkpoint's condition (vectors, or int task indices for
      'learned'); None for generator.condition = 'none'.
    codec: a fitted codec to use (default: `fit_codec` on `stacked`).
    workdir: checkpoint, resume and log there, and write latents.npz (default: in memory).
  """
  task_ids = np.zeros(jax.tree_util.tree_leaves(stacked)[0].shape[0], np.int32) if (
      task_ids is None) else np.asarray(task_ids, np.int32)
  if (conditions is None) != (config.generator.condition == "none"):
    raise ValueError(f"generator.condition = {config.generator.condition!r}: pass conditions "
                     "exactly when the generator is conditional")
  codec = codec or fit_codec(stacked, config, task_ids, tasks)
  vectors = np.asarray(jax.vmap(codec.encode)(stacked, task_ids), np.float32)
  ae_params = _train_autoencoder(config, codec, vectors, workdir)
  latents = encode_all(autoencoder(config, codec), ae_params, vectors)
  scale = LatentScale.fit(latents)
  print(f"latents: mean {float(scale.mean):.3g}, std {float(scale.std):.3g} "
        f"(max |z| {np.abs(latents).max():.3g}); standardized for diffusion")
  if workdir:
    np.savez(os.path.join(workdir, LATENTS), latents=latents, mean=np.asarray(scale.mean),
             std=np.asarray(scale.std))
  scaled = np.asarray(scale.forward(latents), np.float32)
  den_params = _train_denoiser(config, codec, scaled, conditions, workdir)
  example = None if conditions is None else conditions[:1]
  return Generator(ae_params, den_params, scale, codec, config, example)


def load(config: Any, workdir: str, codec: FlatCodec, condition_example: Any) -> Generator:
  """The generator a `train(..., workdir=workdir)` left (its latest checkpoints)."""
  ae_params, _ = H.load_trained_params(config, os.path.join(workdir, "autoencoder"),
                                       autoencoder_init(config, codec), config.autoencoder_train)
  den_params, _ = H.load_trained_params(config, os.path.join(workdir, "diffusion"),
                                        denoiser_init(config, codec, condition_example))
  saved = np.load(os.path.join(workdir, LATENTS))
  scale = LatentScale(jnp.asarray(saved["mean"]), jnp.asarray(saved["std"]))
  return Generator(ae_params, den_params, scale, codec, config, condition_example)


def generate(generator: Generator, key: jax.Array, condition: Any = None,
             stats_task: jax.Array | int = 0, *, num_models: int | None = None) -> PyTree:
  """`num_models` parameter sets (num_models, ...) for one condition, denormalized with
  row `stats_task` of the codec's statistics (default `generate.num_models`). Traceable."""
  config, codec = generator.config, generator.codec
  n = config.generate.num_models if num_models is None else num_models
  z = sample_latents(denoiser(config, codec), generator.den_params, condition, n,
                     config.autoencoder.latent_dim, key,
                     H.schedule_from_config(config.diffusion), **H.sampler_kwargs(config))
  ae = autoencoder(config, codec)
  decoded = jax.vmap(lambda c: ae.apply(generator.ae_params, c, method=ParamAutoencoder.decode))(
      generator.scale.inverse(z))
  return jax.vmap(lambda v: codec.decode(v, stats_task))(decoded)


def generation_plan(generator: Generator, condition: Any, stats_task: Any,
                    key: jax.Array) -> tuple[int, Any]:
  """(models per call, compiled `generate` of that many, taking (ae_params, den_params,
  scale, condition, stats_task, key)): as many as fit the memory budget, all when they fit."""
  def make(count):
    def run(a, d, s, c, t, k):
      trained = generator._replace(ae_params=a, den_params=d, scale=s)
      return generate(trained, k, c, t, num_models=count)
    return run
  g = generator
  return memory.plan_count(make, (g.ae_params, g.den_params, g.scale, condition, stats_task, key),
                           g.config.generate.num_models, memory.budget_bytes(g.config.get("memory")),
                           what="p-diff generation of one model (generate.num_models)")


def generate_all(generator: Generator, key: jax.Array, condition: Any = None,
                 stats_task: int = 0) -> PyTree:
  """All `generate.num_models` models for one condition, chunked to the memory budget."""
  n, g = generator.config.generate.num_models, generator
  size, run = generation_plan(g, condition, jnp.int32(stats_task), key)
  return H.generate_in_chunks(
      lambda first: run(g.ae_params, g.den_params, g.scale, condition, jnp.int32(stats_task),
                        H.chunk_key(key, first, size, n)), n, size)
