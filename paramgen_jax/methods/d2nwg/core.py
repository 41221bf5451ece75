"""D2NWG in memory, through the methods' protocol (`paramgen_jax.protocol`): the weight VAE,
the dataset encoder aligned to its latents, the dataset-conditioned latent diffusion.

    conditions = support_conditions(task, support, mask)     # protocol.SupportSets, N rows
    generator = train(zoo, small_config(), conditions=conditions)   # workdir=... resumes
    models = generate(generator, key, support_conditions(wanted, support, mask), len(wanted))
    save(generator, path); generator = load(path)

zoo: a stacked pytree of one architecture (leaves (N, ...)), or a `protocol.MixedZoo` of
several; each architecture's models become vectors through a FlatCodec fitted here
(per-coordinate normalization pooled over its models), zero-padded to the longest.
Stage 1 (`vae`, skipped with vae.use = False: the diffusion then runs on the vectors
themselves, paper Fig. 6b): WeightVAE on the vectors, β-KL. Its posterior means are
standardized per coordinate (`Scale`). Stage 2 (encoder.kind 'set'): the two-level Set
Transformer and two projections trained with the CLIP loss between a task's support-set
embedding and its models' latents, then frozen; each support set's projected embedding is
the condition. With encoder.kind 'mlp' the MLP encoder is trained jointly with the
denoiser instead. Stage 3: the denoiser (`model.Denoiser`) on the standardized latents.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct

from paramgen_jax import configlib
from paramgen_jax import artifact, diffusion, precision
from paramgen_jax.methods.d2nwg import conditions as C
from paramgen_jax.methods.d2nwg import model as M
from paramgen_jax.methods.d2nwg import vectors as V
from paramgen_jax.nn.weight_vae import WeightVAE, vae_loss
from paramgen_jax.protocol import SupportSets
from paramgen_jax.train import recipe

PyTree = Any
METHOD = "d2nwg"


class Scale(NamedTuple):
  """Per-coordinate standardization of the latents: z_diffusion = (z - mean) / std."""
  mean: np.ndarray
  std: np.ndarray

  @classmethod
  def fit(cls, z: np.ndarray) -> "Scale":
    return cls(z.mean(0), np.maximum(z.std(0), 1e-6))


@struct.dataclass
class Generator:
  """A trained D2NWG: each stage's parameters (vae None without the VAE, aligner None with
  the joint MLP encoder) and the latent scale (Z,); static: the config, each architecture's
  codec, the shapes (D, Z, architectures, C, K, F) and `arch`, the architecture `generate`
  makes (`for_architecture`)."""
  vae: PyTree
  aligner: PyTree
  denoiser: PyTree
  scale: Scale
  config: Any = struct.field(pytree_node=False)
  codecs: tuple = struct.field(pytree_node=False)
  dims: tuple = struct.field(pytree_node=False)
  arch: int = struct.field(pytree_node=False, default=0)


def for_architecture(generator: Generator, arch: int) -> Generator:
  """The generator making models of architecture `arch` (the index in its MixedZoo)."""
  if not 0 <= arch < len(generator.codecs):
    raise ValueError(f"architecture {arch}: the generator has {len(generator.codecs)}")
  return generator.replace(arch=arch)


def small_config() -> ml_collections.ConfigDict:
  """A CPU-sized recipe (well under a minute on 2 cores) for a small zoo: the diffusion on the
  vectors themselves (vae.use False, the paper's Fig. 6b: a VAE would not reconstruct a
  handful of models within the minute), CLIP targets grouping each task's models, and
  `denoiser.mix` (models of one task from different initializations are one mode each)."""
  def fit(steps, batch, lr):
    return configlib.train_section(steps=steps, batch_size=batch, lr=lr, warmup_steps=20,
                                   checkpoint_every=500, keep_checkpoints=1)
  return ml_collections.ConfigDict(dict(
      vae=dict(use=False, chunk=64, features=16, channels=(8,), latent_channels=4, kernel=5,
               beta=1e-6, input_noise=1e-3),
      vae_train=fit(10, 8, 1e-3),
      encoder=dict(kind="set", dim=16, out_dim=16, heads=2, num_inducing=4, depth=1,
                   mlp_hidden=8),
      align=dict(proj_dim=16, tau=0.1, targets="task"),
      align_train=fit(200, 16, 3e-3),
      denoiser=dict(embed_dim=64, encoder=(16, 32), decoder=(16,), mix=dict(width=64)),
      diffusion=dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                     prediction="x0"),
      train=fit(750, 16, 4e-3),
      sample=dict(sampler="ddim", steps=20, eta=0.0, num_samples=1, seed=1, clip_x0=None,
                  compute_dtype="float32")))


def vae(config: Any, length: int) -> WeightVAE:
  v = config.vae
  return WeightVAE(length, v.chunk, v.features, tuple(v.channels), v.latent_channels, v.kernel)


def latent_size(config: Any, length: int) -> int:
  if not config.vae.use:
    return length
  n, c = vae(config, length).latent_shape
  return n * c


def aligner(config: Any, dims) -> M.Aligner:
  _, _, _, c, k, _ = dims
  return M.Aligner(M.encoder(config, c, k), config.align.proj_dim)


def denoiser(config: Any, dims) -> M.Denoiser:
  _, _, archs, c, k, _ = dims
  d = config.denoiser
  joint = M.encoder(config, c, k) if config.encoder.kind == "mlp" else None
  mix = d.get("mix")  # an optional section: absent in the digits presets
  return M.Denoiser(archs, d.embed_dim, tuple(d.encoder), tuple(d.decoder), joint,
                    mix.width if mix else 0)


def _inits(config: Any, dims):
  length, z, archs, c, k, f = dims
  support, mask = jnp.zeros((1, c, k, f)), jnp.ones((1, c, k), bool)
  cond = ({"support": support, "mask": mask} if config.encoder.kind == "mlp"
          else {"embedding": jnp.zeros((1, config.align.proj_dim))})
  cond["arch"] = jnp.zeros((1,), jnp.int32)
  return {
      "vae": lambda key: vae(config, length).init(key, jnp.zeros(length)),
      "align": lambda key: aligner(config, dims).init(key, support, mask, jnp.zeros((1, z))),
      "diffusion": lambda key: denoiser(config, dims).init(
          key, jnp.zeros((1, z)), jnp.zeros((1,), jnp.int32), cond),
  }


def _sub(workdir: str | None, name: str) -> str | None:
  return workdir and os.path.join(workdir, name)


def encode_means(config: Any, params: Any, vectors: np.ndarray, chunk: int = 512) -> np.ndarray:
  """(N, D) -> (N, Z) flattened posterior means."""
  model = vae(config, vectors.shape[1])
  enc = jax.jit(jax.vmap(lambda w: model.apply(params, w, method=WeightVAE.encode)[0]))
  return np.concatenate([np.asarray(enc(vectors[i:i + chunk])).reshape(
      len(vectors[i:i + chunk]), -1) for i in range(0, len(vectors), chunk)])


def _raw_latents(config: Any, vae_params: Any, vectors: np.ndarray) -> np.ndarray:
  return encode_means(config, vae_params, vectors) if config.vae.use else vectors


def latents(generator: Generator, vectors: np.ndarray) -> np.ndarray:
  """(N, D) training vectors -> (N, Z) standardized latents, as the diffusion saw them."""
  raw = _raw_latents(generator.config, generator.vae, vectors)
  return ((raw - generator.scale.mean) / generator.scale.std).astype(np.float32)


def _train_vae(config: Any, data: V.TrainData, dims, workdir: str | None) -> Any:
  v, model = config.vae, vae(config, data.vectors.shape[1])
  pick = recipe.random_rows(config.vae_train.seed + 1, len(data.vectors),
                            config.vae_train.batch_size)
  return recipe.train_generator(
      config.vae_train, config.get("mesh"), init_params=_inits(config, dims)["vae"],
      loss_fn=lambda p, b, rng: vae_loss(model, p, b["w"], rng, beta=v.beta,
                                         input_noise=v.input_noise, mask=b["mask"]),
      batch_fn=lambda step: {"w": data.vectors[pick(step)], "mask": data.masks[pick(step)]},
      workdir=_sub(workdir, "vae"), desc="train weight VAE")


def _draws(seed: int, data: V.TrainData, batch: int):
  """step -> (rows (B,), support draw per row (B,)), a pure function of (seed, step)."""
  rows = recipe.random_rows(seed, len(data.vectors), batch)
  draws = recipe.random_rows(seed + 7, data.support.shape[1], batch)
  return lambda step: (rows(step), draws(step))


def _train_aligner(config: Any, data: V.TrainData, dims, z: np.ndarray,
                   workdir: str | None) -> Any:
  tau, kind = config.align.tau, config.align.targets
  model, pick = aligner(config, dims), _draws(config.align_train.seed + 1, data,
                                              config.align_train.batch_size)

  def batch_fn(step):
    rows, draw = pick(step)
    t = data.task_ids[rows]
    return {"support": data.support[t, draw], "mask": data.support_mask[t, draw], "z": z[rows],
            "task": t}

  def loss_fn(p, b, rng):
    d, w = model.apply(p, b["support"], b["mask"], b["z"])
    targets = {"soft": None, "task": M.task_targets(b["task"]),
               "latent": M.latent_targets(b["z"], tau)}[kind]
    loss = M.clip_loss(w, d, tau, targets)
    return loss, {"loss": loss, "match": jnp.mean(jnp.argmax(w @ d.T, 1) ==
                                                  jnp.arange(w.shape[0]))}

  return recipe.train_generator(
      config.align_train, config.get("mesh"), init_params=_inits(config, dims)["align"],
      loss_fn=loss_fn, batch_fn=batch_fn, workdir=_sub(workdir, "align"),
      desc="align dataset encoder (CLIP)")


def embed_support(config: Any, dims, aligner_params: Any, support: np.ndarray,
                  mask: np.ndarray, chunk: int = 256) -> np.ndarray:
  """(..., C, K, F), (..., C, K) -> (..., E): frozen dataset embeddings (host side, the
  encoder's parameters compiled in)."""
  lead = support.shape[:-3]
  flat, fmask = support.reshape((-1,) + support.shape[-3:]), mask.reshape((-1,) + mask.shape[-2:])
  model = aligner(config, dims)
  run = jax.jit(lambda s, m: model.apply(aligner_params, s, m, method=M.Aligner.embed_dataset))
  out = np.concatenate([np.asarray(run(flat[i:i + chunk], fmask[i:i + chunk]))
                        for i in range(0, len(flat), chunk)])
  return out.reshape(lead + (out.shape[-1],))


def _train_denoiser(config: Any, data: V.TrainData, dims, z: np.ndarray,
                    embeddings: np.ndarray | None, workdir: str | None) -> Any:
  model, schedule = denoiser(config, dims), recipe.schedule_from_section(config.diffusion)
  pick = _draws(config.train.seed + 1, data, config.train.batch_size)

  def batch_fn(step):
    rows, draw = pick(step)
    t, b = data.task_ids[rows], {"z": z[rows], "arch": data.arch_ids[rows]}
    if embeddings is None:
      return b | {"support": data.support[t, draw], "mask": data.support_mask[t, draw]}
    return b | {"embedding": embeddings[t, draw]}

  def loss_fn(p, b, rng):
    cond = {k: v for k, v in b.items() if k != "z"}
    return diffusion.diffusion_loss(lambda x, t, c: model.apply(p, x, t, c), schedule, b["z"],
                                    rng, cond=cond, prediction=config.diffusion.prediction)

  return recipe.train_generator(
      config.train, config.get("mesh"), init_params=_inits(config, dims)["diffusion"],
      loss_fn=loss_fn, batch_fn=batch_fn, workdir=_sub(workdir, "diffusion"),
      desc="train latent diffusion")


def train(zoo: Any, config: Any, *, conditions: SupportSets | None = None,
          workdir: str | None = None) -> Generator:
  """Trains every stage on the zoo's models and their tasks' support sets.

  zoo: stacked models (leaves (N, ...)) or a `protocol.MixedZoo`; conditions: the N models'
  `SupportSets` (task (N,), support (N, R, C, K, F), mask (N, R, C, K)); workdir: each
  stage checkpoints, resumes and logs in workdir/{vae,align,diffusion} (default: in memory).
  """
  if conditions is None:
    raise ValueError("train: D2NWG learns from support sets; pass conditions="
                     "support_conditions(task, support, mask)")
  codecs = V.fit_codecs(zoo, config.vae.chunk)
  data = V.training_data(config.vae.chunk, codecs, zoo, conditions)
  length = data.vectors.shape[1]
  dims = (length, latent_size(config, length), len(codecs)) + data.support.shape[2:]
  vae_params = _train_vae(config, data, dims, workdir) if config.vae.use else None
  raw = _raw_latents(config, vae_params, data.vectors)
  scale = Scale.fit(raw)
  z = ((raw - scale.mean) / scale.std).astype(np.float32)
  aligner_params = embeddings = None
  if config.encoder.kind == "set":
    aligner_params = _train_aligner(config, data, dims, z, workdir)
    embeddings = embed_support(config, dims, aligner_params, data.support, data.support_mask)
  den_params = _train_denoiser(config, data, dims, z, embeddings, workdir)
  return Generator(vae_params, aligner_params, den_params, scale, artifact.frozen(config),
                   codecs, tuple(int(d) for d in dims))


def embed(generator: Generator, conditions: SupportSets) -> SupportSets:
  """Conditions with draw 0 of each row through the frozen dataset encoder: {'embedding'
  (N, E)}, what `generate` reads in their place (host side, so every row's embedding is the
  same whatever rows are generated with it). Unchanged for the joint MLP encoder."""
  g = generator
  if g.config.encoder.kind == "mlp":
    return conditions
  C.check_support(conditions, len(conditions["support"]), g.dims[3:], "embed")
  return SupportSets(embedding=embed_support(
      g.config, g.dims, g.aligner, np.asarray(conditions["support"])[:, 0],
      np.asarray(conditions["mask"])[:, 0]))


def _denoiser_conditions(generator: Generator, conditions: Any, num: int) -> dict:
  """Conditions of `num` models -> the denoiser's rows {'embedding' (num, E) | 'support'
  (num, C, K, F) and 'mask' (num, C, K); 'arch' (num,)}."""
  g, what = generator, "generate"
  arch = jnp.full((num,), g.arch, jnp.int32)
  if isinstance(conditions, Mapping) and "embedding" in conditions:
    if g.config.encoder.kind == "mlp":
      raise ValueError(f"{what}: this generator's MLP encoder reads support sets, not "
                       "embeddings")
    C.check_embedding(conditions, num, g.config.align.proj_dim, what)
    return {"embedding": jnp.asarray(conditions["embedding"]), "arch": arch}
  C.check_support(conditions, num, g.dims[3:], what)
  support, mask = jnp.asarray(conditions["support"])[:, 0], jnp.asarray(conditions["mask"])[:, 0]
  if g.config.encoder.kind == "mlp":
    return {"support": support, "mask": mask, "arch": arch}
  embedding = aligner(g.config, g.dims).apply(g.aligner, support, mask,
                                              method=M.Aligner.embed_dataset)
  return {"embedding": embedding, "arch": arch}


def generate_latents(generator: Generator, key: jax.Array, conditions: SupportSets,
                     num_models: int) -> jax.Array:
  """(num_models, Z) standardized latents, one per row of conditions. Traceable."""
  dtype = precision.section_dtype(generator.config.sample)
  g = generator.replace(denoiser=precision.cast_floating(generator.denoiser, dtype),
                        aligner=precision.cast_floating(generator.aligner, dtype))
  model, schedule = denoiser(g.config, g.dims), recipe.schedule_from_section(g.config.diffusion)
  with precision.autocast(dtype):
    cond = _denoiser_conditions(g, conditions, num_models)
    z = diffusion.sample(lambda x, t, c: model.apply(g.denoiser, x, t, c), schedule,
                         (num_models, g.dims[1]), key, cond=cond,
                         **recipe.sampler_kwargs(g.config.sample, g.config.diffusion.prediction))
  return z.astype(jnp.float32)


def decode(generator: Generator, z: jax.Array) -> jax.Array:
  """Standardized latents (n, Z) -> weight vectors (n, D). Traceable."""
  g = generator
  raw = z * jnp.asarray(g.scale.std)[None, :] + jnp.asarray(g.scale.mean)[None, :]
  if not g.config.vae.use:
    return raw
  model, dtype = vae(g.config, g.dims[0]), precision.section_dtype(g.config.sample)
  shape, params = model.latent_shape, precision.cast_floating(g.vae, dtype)
  with precision.autocast(dtype):
    vectors = jax.vmap(lambda c: model.apply(params, c.reshape(shape),
                                             method=WeightVAE.decode))(raw)
  return vectors.astype(jnp.float32)


def decode_models(generator: Generator, z: jax.Array) -> PyTree:
  """Standardized latents (n, Z) -> n models (stacked) of the generator's architecture (the
  zoo-wide padding past its codec's length dropped). Traceable."""
  codec = generator.codecs[generator.arch]
  vectors = decode(generator, z)[:, :codec.length]
  return jax.vmap(lambda v: codec.decode(v, 0))(vectors)


def generate(generator: Generator, key: jax.Array, conditions: SupportSets,
             num_models: int) -> PyTree:
  """`num_models` models (leaves (num_models, ...)) of architecture `generator.arch`, row i
  from conditions row i: `SupportSets` with support (num_models, R, C, K, F) and mask
  (num_models, R, C, K) (draw 0 is read), or embedding (num_models, E) (`embed`).
  Traceable; ValueError (one line) on conditions of other shapes."""
  if not isinstance(num_models, int) or num_models < 1:
    raise ValueError(f"num_models must be an integer >= 1, got {num_models!r}")
  return decode_models(generator, generate_latents(generator, key, conditions, num_models))


def save(generator: Generator, path: str) -> None:
  """Writes the generator directory `path` (`artifact`): every stage's parameters, the
  latent scale, the config and each architecture's codec."""
  g = generator
  arrays = {"denoiser": g.denoiser, "scale": g.scale._asdict()}
  arrays |= {name: p for name, p in (("vae", g.vae), ("aligner", g.aligner)) if p is not None}
  artifact.save(path, method=METHOD, arrays=arrays, config=g.config,
                codecs={str(a): c for a, c in enumerate(g.codecs)},
                meta={"dims": list(g.dims)})


def load(path: str) -> Generator:
  """The generator `save` wrote in `path` (making architecture 0); one-line
  CorruptDataError when it is incomplete, altered or another method's."""
  found = artifact.load(path, method=METHOD)
  a = found.arrays
  codecs = tuple(found.codecs[str(i)] for i in range(len(found.codecs)))
  return Generator(a.get("vae"), a.get("aligner"), a["denoiser"], Scale(**a["scale"]),
                   found.config, codecs, tuple(found.meta["dims"]))
