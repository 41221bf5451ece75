"""RPG's denoiser: a 1-D conv U-Net applied to each parameter token on its own.

A token (token_size,) is a 1-channel signal. Before every convolution the feature map h
(B, T, channels) is conditioned as

    h <- (h + proj_c(prototype)[..., None]) * time_mlp(t)[..., None]

where both projections map to the token length T and are broadcast over channels (the
prototype is added to the feature map, the timestep multiplies it, as in the official
code). `conditioning` picks where the projections live:

  'per_layer' each convolution has its own (1.22M parameters at T = 256 with the widths of
              configs/rpg_convnext.py; the default: it learns the ConvNeXt zoo within the CPU
              budget, docs/methods/rpg.md)
  'shared'    one timestep MLP and one prototype projection, used before every convolution
              (the official ConditionalUNet's shape: 0.23M parameters there)

Convolutions use kernel 7 and 'SAME' padding, each followed by GroupNorm and ELU
except the last; the encoder's feature maps are added (not concatenated) to the decoder's
maps of the same width. GroupNorm replaces the official BatchNorm so the denoiser keeps no
batch statistics and a token's output does not depend on the other tokens in the batch.

    TokenUNet(encoder=(32, 64, 128), decoder=(64, 32))(x (B, T), t (B,), prototype (B, C))
"""

from __future__ import annotations

import flax.linen as nn
import jax

from paramgen_jax.nn.embeddings import sinusoidal_embedding
from paramgen_jax.nn.norms import GroupNorm

CONDITIONING = ("shared", "per_layer")


class TokenUNet(nn.Module):
  encoder: tuple[int, ...] = (32, 64, 128)
  decoder: tuple[int, ...] = (64, 32)
  kernel: int = 7
  time_frequencies: int = 256
  max_groups: int = 8
  conditioning: str = "per_layer"

  @nn.compact
  def __call__(self, x: jax.Array, t: jax.Array, prototype: jax.Array | None = None) -> jax.Array:
    if self.conditioning not in CONDITIONING:
      raise ValueError(f"denoiser conditioning must be one of {', '.join(CONDITIONING)}, "
                       f"got {self.conditioning!r}")
    length = x.shape[-1]
    time = sinusoidal_embedding(t, self.time_frequencies)

    def projections(name):
      """(time scale (B, T), prototype shift (B, T) or None) for the layer `name`."""
      scale = nn.Dense(length, name=f"{name}_time_out")(
          nn.silu(nn.Dense(length, name=f"{name}_time_in")(time)))
      shift = None if prototype is None else nn.Dense(length, name=f"{name}_cond")(prototype)
      return scale, shift

    shared = projections("shared") if self.conditioning == "shared" else None

    def condition(h, name):
      scale, shift = shared or projections(name)
      if shift is not None:
        h = h + shift[..., None]
      return h * scale[..., None]

    def conv_block(h, width, name):
      h = nn.Conv(width, (self.kernel,), padding="SAME", name=f"{name}_conv")(condition(h, name))
      h = GroupNorm(num_groups=min(self.max_groups, width), name=f"{name}_norm")(h)
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
