"""LoRAGen in memory: train the LoRA VAE and the text-conditioned latent DiT on stacked
adapters, generate adapters for conditions (`paramgen_jax.protocol`).

    generator = loragen.train(stacked, config, conditions=c)   # c (S, D), one per adapter
    models = loragen.generate(generator, key, conditions, 5)   # conditions (5, D); leaves (5, ...)
    loragen.save(generator, path); generator = loragen.load(path)

No file is read or written unless `train` gets a `workdir` (then vae/, diffusion/ with
checkpoints and resume, and latents.npz). `config` needs the sections vae, vae_train, dit,
diffusion, train, sample (optionally mesh); `small_config()` is one for small models on a CPU.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct

from paramgen_jax import configlib
from paramgen_jax import artifact, diffusion, hosts, precision
from paramgen_jax.methods.loragen.locations import LocationPlan, factors
from paramgen_jax.methods.loragen.model import LoRAVAE, LossWeights, vae_loss
from paramgen_jax.nn.dit import SequenceDiT
from paramgen_jax.params import lowrank
from paramgen_jax.train import recipe
from paramgen_jax.zoo.accuracy import take_sets

PyTree = Any
METHOD = "loragen"
LATENTS = "latents.npz"


class Normalizer(NamedTuple):
  """Fixed per-coordinate divisors {module: (size_m,)} (one scalar per leaf and module, the
  RMS over the training adapters), the latents' centre and scale (N, d_z) (`dit.latent_norm`:
  per coordinate, or 0 and the global max |z| as the official code) and the condition's
  centre (D,) and RMS scale () (fitted on the training conditions)."""
  divisors: dict
  latent_mean: jax.Array
  latent_scale: jax.Array
  cond_mean: jax.Array
  cond_scale: jax.Array

  def latents(self, z: jax.Array) -> jax.Array:
    """VAE latents (..., N, d_z) -> the DiT's units."""
    return (z - self.latent_mean[None]) / self.latent_scale[None]

  def latents_inverse(self, u: jax.Array) -> jax.Array:
    return u * self.latent_scale[None] + self.latent_mean[None]

  def condition(self, c: jax.Array) -> jax.Array:
    """Raw conditions (..., D) -> centred and scaled."""
    mean = jnp.reshape(self.cond_mean, (1,) * (jnp.ndim(c) - 1) + (-1,))
    return (c - mean) / self.cond_scale


@struct.dataclass
class Generator:
  """A trained LoRAGen: the VAE's and the DiT's sampling parameters and the fitted scales
  (pytree leaves); the location plan of the generated models and the config (static)."""
  vae_params: PyTree
  dit_params: PyTree
  norm: Normalizer
  plan: LocationPlan = struct.field(pytree_node=False)
  config: Any = struct.field(pytree_node=False)

  @property
  def condition_dim(self) -> int:
    return int(np.shape(self.norm.cond_mean)[-1])


def small_config() -> ml_collections.ConfigDict:
  """A recipe for small models on a CPU (a few hundred parameters, well under a minute on 2
  cores); change any field. The sections of configs/loragen_lora.py that `train` reads."""
  train = lambda steps, lr, b1, b2, ema: configlib.train_section(
      steps=steps, batch_size=16, lr=lr, warmup_steps=50, b1=b1, b2=b2, ema_decay=ema)
  return ml_collections.ConfigDict(dict(
      vae=dict(latent_dim=16, encoder_hidden=64, num_experts=4, top_k=1, expert_hidden=64,
               expert_features=64, shared_pool=False, structural=True, moe=True,
               direction=1.0, spectral=2.0, rec=0.0, dense=1.0, kl=1e-6, balance=1e-5,
               balance_warmup=100, rho=0.85, p=1, tau_start=1.5, tau_end=1.2, tau_steps=200),
      vae_train=train(500, 3e-3, 0.5, 0.9, 0.0),
      dit=dict(dim=64, depth=2, heads=4, mlp_ratio=4, latent_norm="standard"),
      diffusion=dict(schedule="linear", timesteps=500, beta_start=1e-4, beta_end=0.02,
                     prediction="v"),
      # The DiT needs about 3000 steps to draw every model near its task's (on
      # tests/test_protocol.py's 16 models: 1000 steps 80-89% accuracy, 3000 steps 98%).
      train=train(3000, 2e-3, 0.9, 0.999, 0.0),
      sample=dict(sampler="ddim", steps=25, eta=0.0, num_samples=1, seed=1, clip_x0=None,
                  compute_dtype="float32"),
      generate=dict(num_models=4)))


def fit_divisors(plan: LocationPlan, per_module: dict) -> dict:
  """{module: (size_m,)}: per leaf (A, B, kernel, bias), the RMS of its entries over
  (S, L_m) rows."""
  out = {}
  for m in plan.modules:
    rows, pieces, start = np.asarray(per_module[m.name]), [], 0
    for shape in m.shapes:
      size = int(np.prod(shape))
      rms = float(np.sqrt(np.mean(rows[..., start:start + size] ** 2)))
      pieces.append(np.full(size, max(rms, 1e-8), np.float32))
      start += size
    out[m.name] = jnp.asarray(np.concatenate(pieces))
  return out


def sigma_units(plan: LocationPlan, x: dict) -> dict[str, float]:
  """{LoRA module: mean over adapters and layers of ΔW's top singular value} of normalized
  rows {module: (S, L_m, size_m)}: the unit the spectral loss compares singular values in."""
  out = {}
  for m in plan.modules:
    if m.kind == "lora":
      a, b = factors(m, jnp.asarray(x[m.name]))
      top = jax.vmap(jax.vmap(lowrank.lowrank_singular_values))(a, b)[..., 0]
      out[m.name] = float(max(jnp.mean(top), 1e-8))
  return out


def vae_model(config: Any, plan: LocationPlan) -> LoRAVAE:
  v = config.vae
  return LoRAVAE(plan, v.latent_dim, v.encoder_hidden, v.num_experts, v.top_k, v.expert_hidden,
                 v.expert_features, v.shared_pool, v.structural, v.moe)


def dit_model(config: Any, plan: LocationPlan) -> SequenceDiT:
  d = config.dit
  return SequenceDiT(d.dim, d.depth, d.heads, d.mlp_ratio, len(plan.modules), plan.num_layers)


def loss_weights(config: Any) -> LossWeights:
  v = config.vae
  return LossWeights(v.direction, v.spectral, v.rec, v.dense, v.kl, v.balance, v.rho, v.p)


def temperature(config: Any, step: jax.Array) -> jax.Array:
  """τ decays linearly from tau_start to tau_end over tau_steps, then stays."""
  v = config.vae
  frac = jnp.clip(step / max(v.tau_steps, 1), 0.0, 1.0)
  return v.tau_start + (v.tau_end - v.tau_start) * frac


def _vae_init(config: Any, plan: LocationPlan):
  model = vae_model(config, plan)
  example = {m.name: jnp.zeros((1, len(m.layers), m.size)) for m in plan.modules}
  return lambda key: model.init(key, example, jax.random.key(0), 1.0)


def _dit_init(config: Any, plan: LocationPlan, cond_dim: int):
  model, n = dit_model(config, plan), plan.num_locations
  return lambda key: model.init(
      key, jnp.zeros((1, n, config.vae.latent_dim)), jnp.zeros((1,), jnp.int32),
      jnp.zeros((1, cond_dim)), jnp.asarray(plan.module_ids), jnp.asarray(plan.layer_ids))


def split_stack(plan: LocationPlan, stacked: PyTree) -> dict:
  """Stacked adapters (S, ...) -> {module: (S, L_m, size_m)} host arrays."""
  return {k: np.asarray(v) for k, v in jax.vmap(plan.split)(stacked).items()}


def normalized_rows(raw: dict, divisors: dict) -> dict:
  """{module: (S, L_m, size_m)} -> the same divided by the fixed divisors (float32)."""
  return {k: np.asarray(a / np.asarray(divisors[k]), np.float32) for k, a in raw.items()}


def _train_vae(config: Any, plan: LocationPlan, x: dict, workdir: str | None) -> Any:
  model, w, v = vae_model(config, plan), loss_weights(config), config.vae
  units = sigma_units(plan, x)
  count = len(next(iter(x.values())))
  pick = recipe.random_rows(config.vae_train.seed + 1, count, config.vae_train.batch_size)

  def loss_fn(params, batch, rng):
    step = batch["step"][0]
    warm = jnp.clip(step / max(v.balance_warmup, 1), 0.0, 1.0)
    return vae_loss(model, params, batch["x"], rng, temperature(config, step), warm, w, units)

  def batch_fn(step):
    rows = pick(step)
    return {"x": {k: a[rows] for k, a in x.items()},
            "step": np.full(len(rows), step, np.float32)}

  return recipe.train_generator(config.vae_train, config.get("mesh"),
                                init_params=_vae_init(config, plan), loss_fn=loss_fn,
                                batch_fn=batch_fn, workdir=workdir and os.path.join(workdir, "vae"),
                                desc="train LoRA VAE")


def encode_means(config: Any, plan: LocationPlan, params: Any, x: dict,
                 chunk: int = 256) -> np.ndarray:
  """{module: (S, L_m, size_m)} normalized -> posterior means (S, N, d_z)."""
  model = vae_model(config, plan)
  encode = jax.jit(lambda p, xs: model.apply(p, xs, method=LoRAVAE.encode)[0])
  count = len(next(iter(x.values())))
  return np.concatenate([np.asarray(encode(params, {k: a[i:i + chunk] for k, a in x.items()}))
                         for i in range(0, count, chunk)])


def _train_dit(config: Any, plan: LocationPlan, z: np.ndarray, cond: np.ndarray,
               workdir: str | None) -> Any:
  model, schedule = dit_model(config, plan), recipe.schedule_from_section(config.diffusion)
  ids = (jnp.asarray(plan.module_ids), jnp.asarray(plan.layer_ids))
  pick = recipe.random_rows(config.train.seed + 1, len(z), config.train.batch_size)

  def loss_fn(params, batch, rng):
    denoise = lambda x_t, t, c: model.apply(params, x_t, t, c, *ids)
    return diffusion.diffusion_loss(denoise, schedule, batch["z"], rng, cond=batch["cond"],
                                    prediction=config.diffusion.prediction)

  return recipe.train_generator(
      config.train, config.get("mesh"), init_params=_dit_init(config, plan, cond.shape[-1]),
      loss_fn=loss_fn, batch_fn=lambda step: {"z": z[pick(step)], "cond": cond[pick(step)]},
      workdir=workdir and os.path.join(workdir, "diffusion"), desc="train latent DiT")


LATENT_NORMS = ("standard", "maxabs")


def fit_latent_norm(means: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
  """(centre, scale), each (N, d_z), of latents (S, N, d_z): per coordinate ('standard'), or 0
  and the global max |z| ('maxabs', the official code's)."""
  shape = means.shape[1:]
  if kind == "maxabs":
    return (np.zeros(shape, np.float32),
            np.full(shape, max(float(np.abs(means).max()), 1e-8), np.float32))
  if kind != "standard":
    raise ValueError(f"latent_norm must be one of {LATENT_NORMS}, got {kind!r}")
  return means.mean(0).astype(np.float32), np.maximum(means.std(0), 1e-6).astype(np.float32)


def _checked_conditions(conditions: Any, count: int) -> np.ndarray:
  """(S, D) float32 training conditions; one-line ValueError otherwise."""
  if conditions is None:
    raise ValueError("LoRAGen is conditional: pass conditions (N, D), one vector per model")
  cond = np.asarray(conditions, np.float32)
  if cond.ndim != 2 or len(cond) != count:
    raise ValueError(f"conditions must be (N, D) with N = {count} models, got {cond.shape}")
  return cond


def train(zoo: PyTree, config: Any, *, conditions: Any = None,
          workdir: str | None = None) -> Generator:
  """Stage 1 (the VAE on the adapters), then stage 2 (the DiT on their latents).

  Args:
    zoo: adapters (or any models of floating leaves) (S, ...), every leaf with a leading axis.
    conditions: (S, D) each model's task condition (raw; centred and scaled here); required.
    workdir: checkpoint, resume and log there, and write latents.npz (default: in memory).
  """
  plan = LocationPlan.from_template(take_sets(zoo, 0))
  raw = split_stack(plan, zoo)
  cond = _checked_conditions(conditions, len(next(iter(raw.values()))))
  divisors = fit_divisors(plan, raw)
  x = normalized_rows(raw, divisors)
  vae_params = _train_vae(config, plan, x, workdir)
  means = encode_means(config, plan, vae_params, x)
  latent_mean, latent_scale = fit_latent_norm(means, config.dit.latent_norm)
  cond_mean = cond.mean(0)
  cond_scale = float(max(np.sqrt(np.mean((cond - cond_mean) ** 2)), 1e-8))
  norm = Normalizer(divisors, jnp.asarray(latent_mean), jnp.asarray(latent_scale),
                    jnp.asarray(cond_mean), jnp.float32(cond_scale))
  print(f"LoRA VAE: {plan.num_locations} locations, latents max |z| {np.abs(means).max():.3g} "
        f"({config.dit.latent_norm} normalization); conditions centred, RMS {cond_scale:.3g}")
  if workdir and hosts.is_writer():
    np.savez(os.path.join(workdir, LATENTS), latents=means)  # the eval stage's expert load
  dit_params = _train_dit(config, plan, np.asarray(norm.latents(jnp.asarray(means)), np.float32),
                          np.asarray(norm.condition(cond), np.float32), workdir)
  return Generator(vae_params, dit_params, norm, plan, artifact.frozen(config))


def sample_latents(generator: Generator, key: jax.Array, conditions: jax.Array) -> jax.Array:
  """(M, N, d_z) latents (in the VAE's units), one per raw condition of `conditions` (M, D)."""
  g, config = generator, generator.config
  model, plan = dit_model(config, g.plan), g.plan
  ids = (jnp.asarray(plan.module_ids), jnp.asarray(plan.layer_ids))
  cond = g.norm.condition(jnp.asarray(conditions))
  denoise = lambda x_t, t, c: model.apply(g.dit_params, x_t, t, c, *ids)
  z = diffusion.sample(denoise, recipe.schedule_from_section(config.diffusion),
                       (len(cond), plan.num_locations, config.vae.latent_dim), key, cond=cond,
                       **recipe.sampler_kwargs(config.sample, config.diffusion.prediction))
  return g.norm.latents_inverse(z)


def decode(generator: Generator, z: jax.Array) -> PyTree:
  """Latents (M, N, d_z) -> stacked adapter variables (M, ...), at the final temperature."""
  g = generator
  x_hat, _ = vae_model(g.config, g.plan).apply(
      g.vae_params, z, g.config.vae.tau_end, method=LoRAVAE.decode)
  rows = {k: v * jnp.reshape(g.norm.divisors[k], (1, 1, -1)) for k, v in x_hat.items()}
  return jax.vmap(g.plan.join)(rows)


def generate(generator: Generator, key: jax.Array, conditions: Any, num_models: int) -> PyTree:
  """`num_models` adapters (stacked, leaves (num_models, ...)), adapter i for the raw
  condition conditions[i] (conditions: (num_models, D)). Traceable; one task's condition
  repeated num_models times gives the adapters the pipeline's sample stage makes for it."""
  if not isinstance(num_models, (int, np.integer)) or num_models < 1:
    raise ValueError(f"num_models must be an integer >= 1, got {num_models!r}")
  if conditions is None:
    raise ValueError("LoRAGen is conditional: pass conditions (num_models, D)")
  want = (num_models, generator.condition_dim)
  if tuple(np.shape(conditions)) != want:
    raise ValueError(f"conditions must be (num_models, D) = {want}, got {np.shape(conditions)}")
  dtype = precision.section_dtype(generator.config.sample)
  lowered = generator.replace(
      vae_params=precision.cast_floating(generator.vae_params, dtype),
      dit_params=precision.cast_floating(generator.dit_params, dtype))
  with precision.autocast(dtype):  # decode's join casts each leaf to its zoo dtype
    return decode(lowered, sample_latents(lowered, key, conditions).astype(jnp.float32))


def save(generator: Generator, path: str) -> None:
  """Writes the generator directory `path` (`artifact`): the networks, the scales, and the
  generated models' template (zeros) from which `load` rebuilds the location plan."""
  g = generator
  zeros = {m.name: jnp.zeros((len(m.layers), m.size)) for m in g.plan.modules}
  artifact.save(path, method=METHOD, config=g.config, template=g.plan.join(zeros),
                arrays={"vae": g.vae_params, "dit": g.dit_params, "norm": g.norm._asdict()},
                meta={"condition_dim": g.condition_dim, "locations": g.plan.num_locations})


def load(path: str) -> Generator:
  """The generator `save` wrote in `path`; one-line CorruptDataError when it is incomplete,
  altered or another method's."""
  found = artifact.load(path, method=METHOD)
  arrays = jax.tree_util.tree_map(jnp.asarray, found.arrays)
  return Generator(arrays["vae"], arrays["dit"], Normalizer(**arrays["norm"]),
                   LocationPlan.from_template(found.template), found.config)
