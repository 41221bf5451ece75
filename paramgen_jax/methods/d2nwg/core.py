"""D2NWG in memory: the weight VAE, the dataset encoder aligned to its latents, the
dataset-conditioned latent diffusion; generation of weight vectors for a support set.

    data = TrainData(vectors, masks, arch_ids, task_ids, support, support_mask)
    generator = train(data, config)                      # workdir=... to checkpoint/resume
    vectors = generate(generator, cond, key, num=5)      # (5, D) normalized weight vectors

Stage 1 (`vae`, skipped with vae.use = False: the diffusion then runs on the vectors
themselves, paper Fig. 6b): WeightVAE on model-wise vectors, β-KL. Its posterior means are
standardized per coordinate (`Scale`). Stage 2 (encoder.kind 'set'): the two-level Set
Transformer and two projections trained with the CLIP loss between a task's support-set
embedding and its models' latents, then frozen; each support set's projected embedding is
the condition. With encoder.kind 'mlp' the MLP encoder is trained jointly with the
denoiser instead. Stage 3: the denoiser (`model.Denoiser`) on the standardized latents.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import diffusion
from paramgen_jax import stage_helpers as H
from paramgen_jax.methods.d2nwg import model as M
from paramgen_jax.nn.weight_vae import WeightVAE, vae_loss

LATENTS = "latents.npz"


class TrainData(NamedTuple):
  """vectors (N, D) normalized, zero-padded weights; masks (N, D) real entries; arch_ids,
  task_ids (N,); support (T, R, C, K, F): R support sets of each of T tasks (C classes,
  K images each, F features); support_mask (T, R, C, K)."""
  vectors: np.ndarray
  masks: np.ndarray
  arch_ids: np.ndarray
  task_ids: np.ndarray
  support: np.ndarray
  support_mask: np.ndarray


class Scale(NamedTuple):
  """Per-coordinate standardization of the latents: z_diffusion = (z - mean) / std."""
  mean: np.ndarray
  std: np.ndarray

  @classmethod
  def fit(cls, z: np.ndarray) -> "Scale":
    return cls(z.mean(0), np.maximum(z.std(0), 1e-6))


class Generator(NamedTuple):
  """A trained D2NWG: parameters of each stage (vae None without the VAE, aligner None with
  the joint MLP encoder), the latent scale, the config and the shapes (D, Z, archs, C, K, F)."""
  vae_params: Any
  aligner_params: Any
  den_params: Any
  scale: Scale
  config: Any
  dims: tuple[int, int, int, int, int, int]


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
  return M.Denoiser(archs, d.embed_dim, tuple(d.encoder), tuple(d.decoder), joint)


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


def _train_vae(config: Any, data: TrainData, workdir: str | None) -> Any:
  v, model = config.vae, vae(config, data.vectors.shape[1])
  pick = H.random_rows(config.vae_train.seed + 1, len(data.vectors), config.vae_train.batch_size)
  state = H.train_generator(
      config.vae_train, config, init_params=_inits(config, _dims(config, data))["vae"],
      loss_fn=lambda p, b, rng: vae_loss(model, p, b["w"], rng, beta=v.beta,
                                         input_noise=v.input_noise, mask=b["mask"]),
      batch_fn=lambda step: {"w": data.vectors[pick(step)], "mask": data.masks[pick(step)]},
      workdir=_sub(workdir, "vae"), desc="train weight VAE")
  return jax.device_get(state.eval_params())


def _draws(seed: int, data: TrainData, batch: int):
  """step -> (rows (B,), support draw per row (B,)), a pure function of (seed, step)."""
  rows = H.random_rows(seed, len(data.vectors), batch)
  draws = H.random_rows(seed + 7, data.support.shape[1], batch)
  return lambda step: (rows(step), draws(step))


def _train_aligner(config: Any, data: TrainData, z: np.ndarray, workdir: str | None) -> Any:
  dims, tau, kind = _dims(config, data), config.align.tau, config.align.targets
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

  state = H.train_generator(config.align_train, config, init_params=_inits(config, dims)["align"],
                            loss_fn=loss_fn, batch_fn=batch_fn, workdir=_sub(workdir, "align"),
                            desc="align dataset encoder (CLIP)")
  return jax.device_get(state.eval_params())


def embed_support(config: Any, dims, aligner_params: Any, support: np.ndarray,
                  mask: np.ndarray, chunk: int = 256) -> np.ndarray:
  """(..., C, K, F), (..., C, K) -> (..., E): frozen dataset embeddings."""
  lead = support.shape[:-3]
  flat, fmask = support.reshape((-1,) + support.shape[-3:]), mask.reshape((-1,) + mask.shape[-2:])
  model = aligner(config, dims)
  run = jax.jit(lambda s, m: model.apply(aligner_params, s, m, method=M.Aligner.embed_dataset))
  out = np.concatenate([np.asarray(run(flat[i:i + chunk], fmask[i:i + chunk]))
                        for i in range(0, len(flat), chunk)])
  return out.reshape(lead + (out.shape[-1],))


def _train_denoiser(config: Any, data: TrainData, z: np.ndarray, embeddings: np.ndarray | None,
                    workdir: str | None) -> Any:
  dims = _dims(config, data)
  model, schedule = denoiser(config, dims), H.schedule_from_config(config.diffusion)
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

  state = H.train_generator(config.train, config, init_params=_inits(config, dims)["diffusion"],
                            loss_fn=loss_fn, batch_fn=batch_fn,
                            workdir=_sub(workdir, "diffusion"), desc="train latent diffusion")
  return jax.device_get(state.eval_params())


def _dims(config: Any, data: TrainData) -> tuple[int, int, int, int, int, int]:
  length = data.vectors.shape[1]
  _, _, c, k, f = data.support.shape
  return (length, latent_size(config, length), int(data.arch_ids.max()) + 1, c, k, f)


def train(data: TrainData, config: Any, *, workdir: str | None = None) -> Generator:
  """Trains every stage on the zoo's vectors and their tasks' support sets."""
  dims = _dims(config, data)
  vae_params = _train_vae(config, data, workdir) if config.vae.use else None
  raw = encode_means(config, vae_params, data.vectors) if config.vae.use else data.vectors
  scale = Scale.fit(raw)
  if workdir:
    np.savez(os.path.join(workdir, LATENTS), latents=raw, mean=scale.mean, std=scale.std)
  z = ((raw - scale.mean) / scale.std).astype(np.float32)
  aligner_params = embeddings = None
  if config.encoder.kind == "set":
    aligner_params = _train_aligner(config, data, z, workdir)
    embeddings = embed_support(config, dims, aligner_params, data.support, data.support_mask)
  den_params = _train_denoiser(config, data, z, embeddings, workdir)
  return Generator(vae_params, aligner_params, den_params, scale, config, dims)


def load(config: Any, workdir: str, dims) -> Generator:
  """The generator a `train(..., workdir=workdir)` left (its latest checkpoints)."""
  inits = _inits(config, dims)
  get = lambda name, cfg: H.load_trained_params(config, os.path.join(workdir, name),
                                                inits[name], cfg)[0]
  vae_params = get("vae", config.vae_train) if config.vae.use else None
  aligner_params = get("align", config.align_train) if config.encoder.kind == "set" else None
  saved = np.load(os.path.join(workdir, LATENTS))
  return Generator(vae_params, aligner_params, get("diffusion", config.train),
                   Scale(saved["mean"], saved["std"]), config, tuple(dims))


def conditions(generator: Generator, support: np.ndarray, mask: np.ndarray,
               arch: int) -> list[dict]:
  """Support sets (T, C, K, F), masks (T, C, K) -> T denoiser conditions (no batch axis);
  the frozen encoder runs once over all of them."""
  g = generator
  arch = jnp.int32(arch)
  if g.config.encoder.kind == "mlp":
    return [{"support": jnp.asarray(s), "mask": jnp.asarray(m), "arch": arch}
            for s, m in zip(support, mask)]
  emb = embed_support(g.config, g.dims, g.aligner_params, support, mask)
  return [{"embedding": jnp.asarray(e), "arch": arch} for e in emb]


def sample_latents(generator: Generator, cond: dict, key: jax.Array, num: int) -> jax.Array:
  """`num` standardized latents (num, Z) for one condition. Traceable."""
  g = generator
  model, schedule = denoiser(g.config, g.dims), H.schedule_from_config(g.config.diffusion)
  batched = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (num,) + jnp.shape(a)), cond)
  return diffusion.sample(lambda x, t, c: model.apply(g.den_params, x, t, c), schedule,
                          (num, g.dims[1]), key, cond=batched, **H.sampler_kwargs(g.config))


def decode(generator: Generator, z: jax.Array) -> jax.Array:
  """Standardized latents (n, Z) -> weight vectors (n, D). Traceable."""
  g = generator
  raw = z * jnp.asarray(g.scale.std)[None, :] + jnp.asarray(g.scale.mean)[None, :]
  if not g.config.vae.use:
    return raw
  model = vae(g.config, g.dims[0])
  shape = model.latent_shape
  return jax.vmap(lambda c: model.apply(g.vae_params, c.reshape(shape),
                                        method=WeightVAE.decode))(raw)


def decode_models(generator: Generator, codec: Any, z: jax.Array) -> Any:
  """Standardized latents (n, Z) -> n models (stacked) of the architecture of `codec`
  (a FlatCodec; the zoo-wide padding past its length is dropped). Traceable."""
  vectors = decode(generator, z)[:, :codec.length]
  return jax.vmap(lambda v: codec.decode(v, 0))(vectors)
