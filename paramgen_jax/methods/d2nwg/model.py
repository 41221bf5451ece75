"""D2NWG's networks and losses besides the weight VAE (`nn.weight_vae`) and the Set
Transformer (`nn.set_transformer`).

    encoder(config)            DatasetEncoder ('set') or MLPDatasetEncoder ('mlp')
    Aligner                    the dataset encoder + projections for the CLIP alignment
    clip_loss(w, d, tau)       HyperCLIP-style loss with soft targets (official cliptrainer)
    Denoiser                   latent z (B, Z) -> noise; condition = [dataset embedding,
                               architecture one-hot (, a projection of z)] (+ the MLP
                               encoder when trained jointly)
    Predictor                  (latent, dataset embedding) -> accuracy in [0, 1]
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from paramgen_jax.nn.set_transformer import DatasetEncoder, MLPDatasetEncoder
from paramgen_jax.nn.unet1d import TokenUNet

ENCODERS = ("set", "mlp")


def encoder(config: Any, num_classes: int, shots: int) -> nn.Module:
  """The `encoder` section's dataset encoder: features (C, K, F), mask (C, K) -> (out_dim,)."""
  e = config.encoder
  if e.kind == "set":
    return DatasetEncoder(e.dim, e.out_dim, e.heads, e.num_inducing, e.depth)
  return MLPDatasetEncoder(num_classes, shots, e.mlp_hidden, e.out_dim)


class Aligner(nn.Module):
  """(support features (B, C, K, F), mask (B, C, K), latents (B, Z)) -> unit-norm
  (dataset embeddings, weight embeddings), each (B, proj_dim)."""
  dataset_encoder: nn.Module
  proj_dim: int = 128

  def setup(self):
    self.data_proj = nn.Dense(self.proj_dim)
    self.weight_proj = nn.Sequential([nn.Dense(self.proj_dim), nn.gelu,
                                      nn.Dense(self.proj_dim)])

  def embed_dataset(self, features: jax.Array, mask: jax.Array) -> jax.Array:
    """(B, C, K, F), (B, C, K) -> (B, proj_dim), unit norm: the frozen condition."""
    h = jax.vmap(self.dataset_encoder)(features, mask)
    return _unit(self.data_proj(h))

  def __call__(self, features, mask, latents):
    return self.embed_dataset(features, mask), _unit(self.weight_proj(latents))


def _unit(x: jax.Array) -> jax.Array:
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-6)


def clip_loss(weights: jax.Array, datasets: jax.Array, tau: float = 1.0,
              targets: jax.Array | None = None) -> jax.Array:
  """Symmetric cross-entropy of the logits W·Dᵀ/τ against soft targets; weights, datasets
  (B, E).

  targets None: the official targets softmax((D·Dᵀ + W·Wᵀ)/2 / τ) (at the official τ = 1
  the same as its `· τ`), built from the embeddings themselves, so they can drift with them
  (all embeddings equal, uniform targets, loss log B is a fixed point). Otherwise (B, B)
  non-negative weights, each row normalized here: fixed targets (`task_targets`,
  `latent_targets`).
  """
  logits = weights @ datasets.T / tau
  if targets is None:
    targets = jax.nn.softmax((datasets @ datasets.T + weights @ weights.T) / (2 * tau), -1)
  else:
    targets = targets / jnp.sum(targets, axis=-1, keepdims=True)
  targets = jax.lax.stop_gradient(targets)
  w_loss = optax.softmax_cross_entropy(logits, targets)
  d_loss = optax.softmax_cross_entropy(logits.T, targets.T)
  return jnp.mean(w_loss + d_loss) / 2


def task_targets(task: jax.Array) -> jax.Array:
  """(B,) task ids -> (B, B): each row's mass spread over the rows of its task."""
  return (task[:, None] == task[None, :]).astype(jnp.float32)


def latent_targets(z: jax.Array, tau: float) -> jax.Array:
  """(B, Z) standardized latents -> (B, B) softmax(cos(z_i, z_j) / τ): rows of one task (equal
  latents) share the most mass, tasks with similar weights some, so the embedding space
  inherits the weights' geometry."""
  unit = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), 1e-6)
  return jax.nn.softmax(unit @ unit.T / tau, axis=-1)


class Denoiser(nn.Module):
  """(z_t (B, Z), t (B,), cond) -> (B, Z); cond = {'embedding': (B, E) frozen dataset
  embedding, or 'support': (B, C, K, F) and 'mask' (B, C, K) for the joint MLP encoder;
  'arch': (B,) architecture index}.

  The U-Net's convolutions see a window of the latent; `mix` > 0 adds a Dense projection of
  the whole z_t (to `mix` values) to the condition, so every coordinate's prediction knows
  which zoo model the rest of the latent is heading to (models of one task from different
  initializations are distinct modes, which windows alone mix into broken models)."""
  num_archs: int
  embed_dim: int = 64
  encoder: tuple[int, ...] = (32, 64, 128)
  decoder: tuple[int, ...] = (64, 32)
  dataset_encoder: nn.Module | None = None
  mix: int = 0

  @nn.compact
  def __call__(self, z: jax.Array, t: jax.Array, cond: dict) -> jax.Array:
    if self.dataset_encoder is not None:
      data = jax.vmap(self.dataset_encoder)(cond["support"], cond["mask"])
    else:
      data = cond["embedding"]
    parts = [data, jax.nn.one_hot(cond["arch"], self.num_archs, dtype=z.dtype)]
    if self.mix:
      parts.append(nn.Dense(self.mix, name="mix")(z))
    h = nn.silu(nn.Dense(self.embed_dim, name="cond_in")(jnp.concatenate(parts, -1)))
    prototype = nn.Dense(self.embed_dim, name="cond_out")(h)
    return TokenUNet(tuple(self.encoder), tuple(self.decoder), name="unet")(z, t, prototype)


class Predictor(nn.Module):
  """(latent (B, Z), dataset embedding (B, E)) -> predicted accuracy (B,) in [0, 1]."""
  hidden: int = 128

  @nn.compact
  def __call__(self, z: jax.Array, embedding: jax.Array) -> jax.Array:
    h = jnp.concatenate([z, embedding], -1)
    for i in range(2):
      h = nn.gelu(nn.Dense(self.hidden, name=f"hidden{i}")(h))
    return jax.nn.sigmoid(nn.Dense(1, name="out")(h)[..., 0])
