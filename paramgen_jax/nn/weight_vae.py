"""D2NWG's weight VAE: linear in/out adapters around a 1-D convolutional core.

    vae = WeightVAE(length=D, chunk=64, features=64, channels=(32, 64), latent_channels=4)
    mean, logvar = vae.apply(v, w, method=WeightVAE.encode)   # (D,) -> 2 × (latent_len, z)
    w_hat = vae.apply(v, z, method=WeightVAE.decode)          # (latent_len, z) -> (D,)

Written for one vector; batch with `jax.vmap`. The vector (a model, zero-padded to the zoo's
largest, or one layer-wise chunk) is cut into D / chunk pieces; one Dense shared by every
piece maps it to `features` values (LeakyReLU), so the vector becomes a signal of `features`
positions with one channel per piece, which stride-2 convolutions (GroupNorm, LeakyReLU)
shrink to latent_len = features / 2^len(channels) positions of `latent_channels`
(mean and log-variance). The decoder mirrors it with sub-pixel upsampling
(`nn.autoencoder1d`) and ends in the shared Dense features -> chunk. This is the official
code's layout (a shared Linear in_dim -> fdim per chunk, an LDM conv encoder over the
stacked chunks, Linear fdim -> in_dim at the end) in one dimension.

`vae_loss`: masked MSE + β KL(q(z|w) || N(0, I)) (D2NWG eq. 1; β = 1e-6 by default), with
optional Gaussian noise on the input (p-diff's augmentation).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax.nn.norms import GroupNorm


def _groups(width: int, max_groups: int = 8) -> int:
  return max(g for g in range(1, min(max_groups, width) + 1) if width % g == 0)


class WeightVAE(nn.Module):
  length: int
  chunk: int = 64
  features: int = 64
  channels: tuple[int, ...] = (32, 64)
  latent_channels: int = 4
  kernel: int = 5

  def setup(self):
    if self.length % self.chunk:
      raise ValueError(f"vector length {self.length} is not a multiple of the chunk "
                       f"{self.chunk}; pad it (params.padded_length(n, multiple={self.chunk}))")
    if self.features % 2 ** len(self.channels):
      raise ValueError(f"features {self.features} must be a multiple of "
                       f"2^{len(self.channels)} (one halving per conv stage)")
    self.pieces = self.length // self.chunk
    self.adapter_in = nn.Dense(self.features)
    self.down = [nn.Conv(c, (self.kernel,), strides=(2,), padding="SAME") for c in self.channels]
    self.down_norms = [GroupNorm(num_groups=_groups(c)) for c in self.channels]
    self.to_moments = nn.Conv(2 * self.latent_channels, (1,))
    self.from_latent = nn.Conv(self.channels[-1], (self.kernel,), padding="SAME")
    widths = tuple(reversed(self.channels))
    self.up = [nn.Conv(2 * c, (self.kernel,), padding="SAME") for c in widths]
    self.up_norms = [GroupNorm(num_groups=_groups(c)) for c in widths]
    self.to_pieces = nn.Conv(self.pieces, (self.kernel,), padding="SAME")
    self.adapter_out = nn.Dense(self.chunk)

  @property
  def latent_shape(self) -> tuple[int, int]:
    return self.features // 2 ** len(self.channels), self.latent_channels

  def encode(self, w: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(length,) -> (mean, logvar), each (latent_len, latent_channels)."""
    h = nn.leaky_relu(self.adapter_in(w.reshape(-1, self.chunk))).T  # (features, pieces)
    for conv, norm in zip(self.down, self.down_norms):
      h = nn.leaky_relu(norm(conv(h)))
    mean, logvar = jnp.split(self.to_moments(h), 2, axis=-1)
    return mean, jnp.clip(logvar, -30.0, 20.0)

  def decode(self, z: jax.Array) -> jax.Array:
    """(latent_len, latent_channels) -> (length,)."""
    h = self.from_latent(z)
    for conv, norm in zip(self.up, self.up_norms):
      h = conv(h)  # (L, 2C) -> (2L, C), the two phases interleaved
      h = nn.leaky_relu(norm(h.reshape(2 * h.shape[0], h.shape[1] // 2)))
    pieces = self.to_pieces(h).T  # (pieces, features)
    return self.adapter_out(pieces).reshape(-1)

  def __call__(self, w: jax.Array) -> jax.Array:
    return self.decode(self.encode(w)[0])


def gaussian_kl(mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """KL(N(mean, exp(logvar)) || N(0, I)) summed over every axis."""
  return 0.5 * jnp.sum(jnp.square(mean) + jnp.exp(logvar) - 1.0 - logvar)


def vae_loss(model: WeightVAE, params: Any, w: jax.Array, key: jax.Array, *,
             beta: float = 1e-6, input_noise: float = 0.0,
             mask: jax.Array | None = None) -> tuple[jax.Array, dict]:
  """D2NWG eq. 1 on a batch w (B, length): masked MSE + β · mean KL per vector.

  mask (length,) or (B, length) bool marks real entries (padding is neither noised nor scored).
  """
  noise_key, sample_key = jax.random.split(key)
  mask = jnp.ones(w.shape[-1], bool) if mask is None else mask
  mask = mask if mask.ndim == w.ndim else mask[None, :]
  weights = jnp.broadcast_to(mask, w.shape).astype(w.dtype)
  noisy = w + input_noise * jax.random.normal(noise_key, w.shape) * weights
  mean, logvar = jax.vmap(lambda v: model.apply(params, v, method=WeightVAE.encode))(noisy)
  z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(sample_key, mean.shape)
  w_hat = jax.vmap(lambda c: model.apply(params, c, method=WeightVAE.decode))(z)
  mse = jnp.sum(jnp.square(w_hat - w) * weights) / jnp.maximum(jnp.sum(weights), 1.0)
  kl = jnp.mean(jax.vmap(gaussian_kl)(mean, logvar))
  return mse + beta * kl, {"mse": mse, "kl": kl, "latent_std": jnp.std(mean)}
