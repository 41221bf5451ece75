"""p-diff's parameter autoencoder: 1-D convolutions over a flat parameter vector.

    ae = ParamAutoencoder(length=N, channels=(64, 128, 256, 256, 32), latent_dim=128)
    z = ae.apply(variables, x, method=ParamAutoencoder.encode)      # (N,) -> (latent_dim,)
    x_hat = ae.apply(variables, z, method=ParamAutoencoder.decode)  # (latent_dim,) -> (N,)

Written for one vector; batch with `jax.vmap`. The encoder is a chain of stride-2 convolutions
(kernel 7, GroupNorm, leaky ReLU), flattened into a Dense to the latent; the decoder mirrors
it with stride-2 upsampling stages (GroupNorm, ELU) and a final 1-channel conv. GroupNorm
replaces the official BatchNorm so that a vector's code does not depend on the rest of the
batch. Each upsampling stage is a sub-pixel convolution (Shi et al. 2016): a stride-1 conv to
2C channels whose outputs are interleaved into a map twice as long. It is a reparameterization
of the official stride-2 transposed convolution (each output phase gets its own kernel), and
its gradient is about 10x faster than XLA's transposed convolution on CPUs. `N` must be a
multiple of 2^len(channels) (`params.padded_length` rounds up; pad with zeros and mask the
padding out of the loss).

Training (`autoencoder_loss`) follows p-diff: Gaussian noise on the input (σ 0.001) and on the
latent (σ 0.1, the fixed "manual std" of the official code, no KL term), then MSE.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax.nn.norms import GroupNorm


def _groups(width: int, max_groups: int = 8) -> int:
  return max(g for g in range(1, min(max_groups, width) + 1) if width % g == 0)


class ParamAutoencoder(nn.Module):
  length: int
  channels: tuple[int, ...] = (64, 128, 256, 256, 32)
  latent_dim: int = 128
  kernel: int = 7

  def setup(self):
    stages = len(self.channels)
    if self.length % (2 ** stages):
      raise ValueError(f"length {self.length} is not a multiple of 2^{stages}; pad it "
                       f"(params.padded_length(n, multiple={2 ** stages}))")
    self.bottom = self.length // 2 ** stages
    self.down = [nn.Conv(c, (self.kernel,), strides=(2,), padding="SAME") for c in self.channels]
    self.down_norms = [GroupNorm(num_groups=_groups(c)) for c in self.channels]
    self.to_latent = nn.Dense(self.latent_dim)
    self.from_latent = nn.Dense(self.bottom * self.channels[-1])
    widths = tuple(reversed(self.channels[:-1])) + (self.channels[0],)
    self.up = [nn.Conv(2 * c, (self.kernel,), padding="SAME") for c in widths]
    self.up_norms = [GroupNorm(num_groups=_groups(c)) for c in widths]
    self.out = nn.Conv(1, (self.kernel,), padding="SAME")

  def encode(self, x: jax.Array) -> jax.Array:
    """(length,) -> (latent_dim,)."""
    h = x[:, None]
    for conv, norm in zip(self.down, self.down_norms):
      h = nn.leaky_relu(norm(conv(h)))
    return self.to_latent(h.reshape(-1))

  def decode(self, z: jax.Array) -> jax.Array:
    """(latent_dim,) -> (length,)."""
    h = self.from_latent(z).reshape(self.bottom, self.channels[-1])
    for conv, norm in zip(self.up, self.up_norms):
      h = conv(h)  # (L, 2C) -> (2L, C): output 2i is phase 0 at i, 2i + 1 phase 1 at i
      h = nn.elu(norm(h.reshape(2 * h.shape[0], h.shape[1] // 2)))
    return self.out(h)[:, 0]

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.decode(self.encode(x))


def autoencoder_loss(model: ParamAutoencoder, params: Any, x: jax.Array, key: jax.Array, *,
                     input_noise: float = 1e-3, latent_noise: float = 0.1,
                     mask: jax.Array | None = None) -> tuple[jax.Array, dict]:
  """p-diff's noise-augmented reconstruction loss on a batch x (B, length).

  mask (length,) bool marks real entries (padding is neither noised nor scored).
  """
  input_key, latent_key = jax.random.split(key)
  mask = jnp.ones(x.shape[-1], bool) if mask is None else mask
  weights = jnp.broadcast_to(mask[None, :], x.shape).astype(x.dtype)
  noisy = x + input_noise * jax.random.normal(input_key, x.shape) * weights
  z = jax.vmap(lambda v: model.apply(params, v, method=ParamAutoencoder.encode))(noisy)
  z = z + latent_noise * jax.random.normal(latent_key, z.shape)
  x_hat = jax.vmap(lambda c: model.apply(params, c, method=ParamAutoencoder.decode))(z)
  mse = jnp.sum(jnp.square(x_hat - x) * weights) / jnp.maximum(jnp.sum(weights), 1.0)
  return mse, {"mse": mse, "latent_std": jnp.std(z)}
