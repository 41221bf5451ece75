"""Target models whose weights the generators learn: small Flax classifiers for digits.

Each is a `flax.linen` module called as `module.apply(variables, x, train=False)` with
x (B, H, W, C) and logits (B, num_classes) out. `Target` wraps one with pure functions:

    target = make_target("convnext_mini", num_classes=10)
    variables = target.init(key, x)                 # {'params': ..., ['batch_stats': ...]}
    logits = target.apply(variables, x)             # evaluation mode, a pure function
    logits, new_state = target.apply_train(params, model_state, x, rng)

Variables are what a zoo stores and a generator generates (BatchNorm running statistics
included). LoRA adapters for the ViT live in `lora.py`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax.zoo.lora import LoRADense


class MLP(nn.Module):
  """Flattened pixels -> hidden layers (ReLU) -> logits."""
  num_classes: int
  hidden: tuple[int, ...] = (128,)

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.num_classes)(x)


class CNN(nn.Module):
  """Two conv-BatchNorm-ReLU blocks, the second pooled, then a dense head."""
  num_classes: int
  channels: tuple[int, int] = (16, 32)

  @nn.compact
  def __call__(self, x, train: bool = False):
    for i, width in enumerate(self.channels):
      x = nn.Conv(width, (3, 3), use_bias=False)(x)
      x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x))
      if i == len(self.channels) - 1:
        x = nn.avg_pool(x, (2, 2), (2, 2))
    return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))


class ResidualBlock(nn.Module):
  width: int
  stride: int = 1

  @nn.compact
  def __call__(self, x, train: bool):
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9)
    y = nn.relu(norm()(nn.Conv(self.width, (3, 3), self.stride, use_bias=False)(x)))
    y = norm()(nn.Conv(self.width, (3, 3), use_bias=False)(y))
    if x.shape[-1] != self.width or self.stride != 1:
      x = norm()(nn.Conv(self.width, (1, 1), self.stride, use_bias=False)(x))
    return nn.relu(x + y)


class ResNetMini(nn.Module):
  """Conv stem, one basic residual block per stage (stride 2 after the first), pooled head."""
  num_classes: int
  widths: tuple[int, ...] = (16, 32, 64)

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.Conv(self.widths[0], (3, 3), use_bias=False)(x)
    x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x))
    for i, width in enumerate(self.widths):
      x = ResidualBlock(width, 1 if i == 0 else 2)(x, train)
    return nn.Dense(self.num_classes)(x.mean(axis=(1, 2)))


def depthwise_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """'SAME' depthwise convolution as a sum of shifted copies: x (B, H, W, C), kernel (kh, kw,
  1, C) as `nn.Conv(feature_group_count=C)` stores it. XLA's grouped convolutions are slow on
  CPUs (about 0.1 s per ConvNeXt-mini step); this form is a fused multiply-add."""
  kh, kw = kernel.shape[:2]
  top, left = (kh - 1) // 2, (kw - 1) // 2
  padded = jnp.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
  h, w = x.shape[1:3]
  out = jnp.zeros_like(x)
  for i in range(kh):
    for j in range(kw):
      out = out + padded[:, i:i + h, j:j + w, :] * kernel[i, j, 0][None, None, None, :]
  return out


class DepthwiseConv(nn.Module):
  """Depthwise 'SAME' convolution with bias; parameters laid out as nn.Conv's."""
  features: int
  kernel_size: tuple[int, int] = (7, 7)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (*self.kernel_size, 1, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    return depthwise_conv(x, kernel) + bias.reshape(1, 1, 1, -1)


class ConvNeXtBlock(nn.Module):
  """Depthwise 7×7 conv -> LayerNorm -> Dense 4× -> GELU -> Dense -> layer scale, residual."""
  width: int
  layer_scale_init: float = 1e-6

  @nn.compact
  def __call__(self, x):
    y = DepthwiseConv(self.width, (7, 7))(x)
    y = nn.LayerNorm(epsilon=1e-6)(y)
    y = nn.Dense(4 * self.width)(y)
    y = nn.Dense(self.width)(nn.gelu(y))
    gamma = self.param("layer_scale", nn.initializers.constant(self.layer_scale_init),
                       (self.width,))
    return x + gamma.reshape((1,) * (y.ndim - 1) + (-1,)) * y


class ConvNeXtMini(nn.Module):
  """ConvNeXt at digit scale: conv stem + LayerNorm, stages of ConvNeXt blocks with
  LayerNorm + strided-conv downsampling between them, global pooling, LayerNorm, linear head.

  The stem is a 3×3 convolution at stride 1 (`stem_patch` > 1 gives ConvNeXt's patchify stem
  for larger images): on 8×8 single-channel digits a 1×1 stem followed by LayerNorm all but
  erases pixel intensities."""
  num_classes: int
  widths: tuple[int, ...] = (32, 64)
  depths: tuple[int, ...] = (2, 2)
  stem_patch: int = 1
  stem_kernel: int = 3
  layer_scale_init: float = 1.0  # ConvNeXt's 1e-6 leaves a 4-block net near-linear for long

  @nn.compact
  def __call__(self, x, train: bool = False):
    kernel = max(self.stem_kernel, self.stem_patch)
    x = nn.Conv(self.widths[0], (kernel, kernel), self.stem_patch)(x)
    x = nn.LayerNorm(epsilon=1e-6)(x)
    for i, (width, depth) in enumerate(zip(self.widths, self.depths)):
      if i > 0:
        x = nn.LayerNorm(epsilon=1e-6)(x)
        x = nn.Conv(width, (2, 2), 2)(x)
      for _ in range(depth):
        x = ConvNeXtBlock(width, self.layer_scale_init)(x)
    x = nn.LayerNorm(epsilon=1e-6)(x.mean(axis=(1, 2)))
    return nn.Dense(self.num_classes)(x)


LORA_TARGETS = ("query", "key", "value", "out", "mlp_in", "mlp_out")


class EncoderBlock(nn.Module):
  """Pre-LN transformer block; the Dense layers named in `lora_targets` (of query, key, value,
  out, mlp_in, mlp_out) take LoRA when rank > 0."""
  dim: int
  heads: int
  mlp_dim: int
  lora_rank: int = 0
  lora_alpha: float = 1.0
  lora_targets: tuple[str, ...] = LORA_TARGETS

  @nn.compact
  def __call__(self, x):
    dense = lambda features, name: LoRADense(
        features, rank=self.lora_rank if name in self.lora_targets else 0,
        alpha=self.lora_alpha, name=name)
    b, n, _ = x.shape
    head_dim = self.dim // self.heads
    y = nn.LayerNorm()(x)
    q, k, v = (dense(self.dim, name)(y).reshape(b, n, self.heads, head_dim)
               for name in ("query", "key", "value"))
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(head_dim)
    attended = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, axis=-1), v)
    x = x + dense(self.dim, "out")(attended.reshape(b, n, self.dim))
    y = nn.LayerNorm()(x)
    y = dense(self.dim, "mlp_out")(nn.gelu(dense(self.mlp_dim, "mlp_in")(y)))
    return x + y


class ViTTiny(nn.Module):
  """Patch embedding + learned positions + class token, pre-LN encoder, linear head."""
  num_classes: int
  patch: int = 2
  dim: int = 64
  depth: int = 4
  heads: int = 4
  mlp_dim: int = 128
  lora_rank: int = 0
  lora_alpha: float = 1.0
  lora_targets: tuple[str, ...] = LORA_TARGETS

  @nn.compact
  def __call__(self, x, train: bool = False, features: bool = False):
    """Logits (B, num_classes), or with `features` the normalized class token (B, dim)."""
    x = nn.Conv(self.dim, (self.patch, self.patch), self.patch)(x)
    b, h, w, _ = x.shape
    x = x.reshape(b, h * w, self.dim)
    cls = self.param("cls", nn.initializers.zeros, (1, 1, self.dim))
    x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, self.dim)), x], axis=1)
    x = x + self.param("pos", nn.initializers.normal(0.02), (1, h * w + 1, self.dim))
    for _ in range(self.depth):
      x = EncoderBlock(self.dim, self.heads, self.mlp_dim, self.lora_rank, self.lora_alpha,
                       tuple(self.lora_targets))(x)
    pooled = nn.LayerNorm()(x[:, 0])
    return pooled if features else nn.Dense(self.num_classes)(pooled)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP, "cnn": CNN, "resnet_mini": ResNetMini, "convnext_mini": ConvNeXtMini,
    "vit_tiny": ViTTiny,
}


@dataclasses.dataclass(frozen=True)
class Target:
  """A target model with pure init / apply functions (see module docstring)."""
  name: str
  module: nn.Module

  def init(self, key: jax.Array, x: jax.Array) -> dict:
    return dict(self.module.init(key, x, train=False))

  def apply(self, variables: Any, x: jax.Array) -> jax.Array:
    """Evaluation-mode logits (B, num_classes)."""
    return self.module.apply(variables, x, train=False)

  def apply_train(self, params: Any, model_state: Any, x: jax.Array,
                  rng: jax.Array) -> tuple[jax.Array, Any]:
    """Training-mode logits and the updated model state (BatchNorm statistics, or {})."""
    del rng  # no dropout in these targets
    if not model_state:
      return self.module.apply({"params": params}, x, train=True), {}
    logits, updates = self.module.apply({"params": params, **model_state}, x, train=True,
                                        mutable=list(model_state))
    return logits, dict(updates)


def make_target(name: str, num_classes: int, **kwargs: Any) -> Target:
  if name not in MODELS:
    raise ValueError(f"unknown target model {name!r}: use one of {', '.join(sorted(MODELS))}")
  return Target(name, MODELS[name](num_classes=num_classes, **kwargs))


def split_variables(variables: dict) -> tuple[Any, dict]:
  """{'params': p, 'batch_stats': s} -> (p, {'batch_stats': s})."""
  return variables["params"], {k: v for k, v in variables.items() if k != "params"}
