"""RPG's denoiser: a 1-D conv U-Net applied to each parameter token on its own.

A token (token_size,) is a 1-channel signal. Before every convolution the feature map h
(B, T, channels) is conditioned as

    h <- (h + proj_c(prototype)[..., None]) * time_mlp(t)[..., None]

where both projections map to the token length T and are broadcast over channels (the
prototype is added to the feature map, the timestep multiplies it, as in the official
code). Convolutions use kernel 7 and 'SAME' padding, each followed by GroupNorm and ELU
except the last; the encoder's feature maps are added (not concatenated) to the decoder's
maps of the same width. GroupNorm replaces the official BatchNorm so the denoiser keeps no
batch statistics and a token's output does not depend on the other tokens in the batch.

    TokenUNet(encoder=(32, 64, 128), decoder=(64, 32))(x (B, T), t (B,), prototype (B, C))
"""

from __future__ import annotations

import flax.linen as nn
import jax

from paramgen_jax.nn.embeddings import sinusoidal_embedding


class TokenUNet(nn.Module):
  encoder: tuple[int, ...] = (32, 64, 128)
  decoder: tuple[int, ...] = (64, 32)
  kernel: int = 7
  time_frequencies: int = 256
  max_groups: int = 8

  @nn.compact
  def __call__(self, x: jax.Array, t: jax.Array, prototype: jax.Array | None = None) -> jax.Array:
    length = x.shape[-1]
    time = sinusoidal_embedding(t, self.time_frequencies)

    def condition(h, name):
      scale = nn.Dense(length, name=f"{name}_time_out")(
          nn.silu(nn.Dense(length, name=f"{name}_time_in")(time)))
      if prototype is not None:
        h = h + nn.Dense(length, name=f"{name}_cond")(prototype)[..., None]
      return h * scale[..., None]

    def conv_block(h, width, name):
      h = nn.Conv(width, (self.kernel,), padding="SAME", name=f"{name}_conv")(condition(h, name))
      h = nn.GroupNorm(num_groups=min(self.max_groups, width), name=f"{name}_norm")(h)
      return nn.elu(h)

    h = x[..., None]
    skips = {}
    for i, width in enumerate(self.encoder):
      h = conv_block(h, width, f"enc{i}")
      skips[width] = h
    for i, width in enumerate(self.decoder):
      h = conv_block(h, width, f"dec{i}")
      if width in skips and width != self.encoder[-1]:
        h = h + skips[width]
    out = nn.Conv(1, (self.kernel,), padding="SAME", name="out_conv")(condition(h, "out"))
    return out[..., 0]
