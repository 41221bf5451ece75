"""p-diff / COND P-DIFF latent denoiser and its loss and sampler.

The autoencoder's latent (latent_dim,) is a 1-channel signal for a 1-D conv U-Net (the
`TokenUNet` RPG uses per token; p-diff's denoiser is the same kind of network, "one-dimensional
convolutions ... because the weight matrix parameters do not show strong positional
relationships"). The timestep multiplies every feature map; the task condition is embedded
and added to every feature map, as in COND P-DIFF's vision code:

    condition: 'none'    -> no embedding
               'learned' -> nn.Embed(num_tasks, embed_dim)(task index)
               otherwise -> MLP(condition vector) (one-hot, MiniLM text, data features)

Latents are standardized before diffusion (`LatentScale`): the official p-diff latent can
drift to ±100 when the autoencoder overfits (its issues #13/#20), which breaks a diffusion
model that assumes unit-scale data.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax import diffusion
from paramgen_jax.nn.unet1d import TokenUNet


class LatentScale(NamedTuple):
  """z_diffusion = (z - mean) / std, scalars over all latents of the training zoo."""
  mean: jax.Array
  std: jax.Array

  @classmethod
  def fit(cls, latents: jax.Array) -> "LatentScale":
    return cls(jnp.mean(latents), jnp.maximum(jnp.std(latents), 1e-8))

  def forward(self, z: jax.Array) -> jax.Array:
    return (z - self.mean) / self.std

  def inverse(self, z: jax.Array) -> jax.Array:
    return z * self.std + self.mean


class LatentDenoiser(nn.Module):
  """(z_t (B, latent_dim), t (B,), condition) -> (B, latent_dim).

  condition: None ('none'), (B,) int task indices ('learned') or (B, C) vectors.
  """
  condition: str = "none"
  num_tasks: int = 0
  embed_dim: int = 64
  encoder: tuple[int, ...] = (32, 64, 128)
  decoder: tuple[int, ...] = (64, 32)
  conditioning: str = "per_layer"  # TokenUNet's; 'shared': one time MLP, as p-diff's

  @nn.compact
  def __call__(self, z: jax.Array, t: jax.Array, condition: jax.Array | None = None) -> jax.Array:
    embedding = None
    if self.condition == "learned":
      embedding = nn.Embed(self.num_tasks, self.embed_dim, name="task_vectors")(condition)
    elif self.condition != "none":
      h = nn.silu(nn.Dense(self.embed_dim, name="cond_in")(condition))
      embedding = nn.Dense(self.embed_dim, name="cond_out")(h)
    return TokenUNet(tuple(self.encoder), tuple(self.decoder), conditioning=self.conditioning,
                     name="unet")(z, t, embedding)


def latent_diffusion_loss(model: LatentDenoiser, params: Any, z0: jax.Array,
                          condition: jax.Array | None, key: jax.Array,
                          schedule: diffusion.Schedule, prediction: str) -> tuple[jax.Array, dict]:
  """The DDPM loss on standardized latents z0 (B, latent_dim)."""
  denoise = lambda x, t, c: model.apply(params, x, t, c)
  return diffusion.diffusion_loss(denoise, schedule, z0, key, cond=condition,
                                  prediction=prediction)


def sample_latents(model: LatentDenoiser, params: Any, conditions: jax.Array | None,
                   num: int, latent_dim: int, key: jax.Array, schedule: diffusion.Schedule,
                   **sampler_kwargs) -> jax.Array:
  """`num` standardized latents (num, latent_dim), latent i for conditions[i] (conditions:
  (num, ...) or None)."""
  denoise = lambda x, t, c: model.apply(params, x, t, c)
  return diffusion.sample(denoise, schedule, (num, latent_dim), key, cond=conditions,
                          **sampler_kwargs)
