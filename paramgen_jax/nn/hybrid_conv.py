"""Hybrid directional convolutions (data-conditioned mapping paper, Sec. 2.4; DnD's
HyperConv): blocks over a (N, H, W) feature volume — N the layer axis, H rows, W columns —
that mix within a layer along two orders and then across layers.

One axis is *mixed* by treating it as the channels of a 1-D convolution that runs along
another axis: `mix_columns` maps W -> W' (columns as channels, kernel along H), `mix_rows`
maps H -> H' (rows as channels, kernel along W), `mix_layers` maps N -> N' (layers as
channels, a k×k kernel over (H, W)). A *blocked* axis (the paper's Table 6) is resized by
linear interpolation instead: nothing is learned across it.

    block = HybridBlock(out_shape=(8, 32, 32), kernel=5)
    y = block(x)          # x (B, N, H, W) -> (B, 8, 32, 32)
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

AXES = ("L", "R", "C")  # layers (N), rows (H), columns (W)


def _resize(x: jax.Array, axis: int, size: int) -> jax.Array:
  """Linear interpolation of one axis to `size` entries (the blocked form of a mixer)."""
  if x.shape[axis] == size:
    return x
  shape = list(x.shape)
  shape[axis] = size
  return jax.image.resize(x, tuple(shape), method="linear")


class AxisMixer(nn.Module):
  """Maps one axis of (B, N, H, W) to `size` entries: a convolution with that axis as
  channels and the kernel along `along`, or linear interpolation when `blocked`."""
  axis: str          # 'L', 'R' or 'C': the axis mixed (and resized)
  size: int
  kernel: int
  blocked: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    position = 1 + AXES.index(self.axis)
    if self.blocked:
      return _resize(x, position, self.size)
    b, n, h, w = x.shape
    if self.axis == "C":    # columns as channels, along rows: (B·N, H, W) -> (B·N, H, W')
      y = nn.Conv(self.size, (self.kernel,), padding="SAME")(x.reshape(b * n, h, w))
      return y.reshape(b, n, h, self.size)
    if self.axis == "R":    # rows as channels, along columns: (B·N, W, H) -> (B·N, W, H')
      y = nn.Conv(self.size, (self.kernel,), padding="SAME")(
          jnp.swapaxes(x, 2, 3).reshape(b * n, w, h))
      return jnp.swapaxes(y.reshape(b, n, w, self.size), 2, 3)
    # layers as channels, a k×k kernel over (H, W): (B, H, W, N) -> (B, H, W, N')
    y = nn.Conv(self.size, (self.kernel, self.kernel), padding="SAME")(
        jnp.moveaxis(x, 1, 3))
    return jnp.moveaxis(y, 3, 1)


class HybridBlock(nn.Module):
  """In-layer mixing by two parallel orders (rows then columns; columns then rows, tanh),
  averaged with a learned bias, then cross-layer mixing; residual when shapes agree.

  x (B, N, H, W) -> (B, *out_shape).
  """
  out_shape: tuple[int, int, int]
  kernel: int
  blocked: Sequence[str] = ()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    n_out, h_out, w_out = self.out_shape
    k, blocked = self.kernel, set(self.blocked)

    def mixer(axis, size, name):
      return AxisMixer(axis, size, k, axis in blocked, name=name)

    y = nn.LayerNorm(reduction_axes=(-2, -1), feature_axes=(-2, -1))(x)
    rows_first = mixer("C", w_out, "columns_b")(mixer("R", h_out, "rows_a")(y))
    columns_first = jnp.tanh(mixer("R", h_out, "rows_b")(mixer("C", w_out, "columns_a")(y)))
    bias = self.param("bias", nn.initializers.zeros, (h_out, w_out))
    z = (rows_first + columns_first + bias[None, None]) / 3.0
    z = mixer("L", n_out, "layers")(nn.gelu(z))
    return z + x if x.shape == z.shape else z


class HybridDecoder(nn.Module):
  """Cascaded `HybridBlock`s over a shape schedule: (B, *prototype) -> (B, *shapes[-1])."""
  shapes: Sequence[tuple[int, int, int]]
  kernel: int
  blocked: Sequence[str] = ()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for i, shape in enumerate(self.shapes):
      x = HybridBlock(tuple(shape), self.kernel, tuple(self.blocked), name=f"block_{i}")(x)
    return x
