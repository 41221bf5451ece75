"""RPG's generator: a recurrent prototype model over token positions + a token denoiser.

For one generated model, the recurrent model reads the sequence of token positions,

    input_s = position(s) + permutation_state[k] + condition_encoder(c)      s = 1..S

(the official code's choice: the parameter tokens themselves are never fed in, so the
prototypes are a function of position, permutation state and condition; the paper's text
describes a model over parameter tokens — see anchors.md, RPG issue #7), runs a sequence
backbone and maps each output to a prototype. The denoiser then generates every token
independently from noise, conditioned on its prototype.

Training (`rpg_loss`): the recurrent model sees the whole sequence; a random subset of
`diffusion_batch` (model, token) pairs is drawn for the diffusion loss, padding masked out,
and gradients reach the recurrent model through the prototypes.

Sampling (`sample_tokens`): each token has its own key, so 'sequential' (one token at a
time), 'partial' (`chunk` tokens at a time) and 'parallel' (all at once) give the same
parameters for the same key; they differ only in peak memory and speed.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax import diffusion, memory
from paramgen_jax.nn.position import TokenPositions
from paramgen_jax.nn.sequence import make_backbone
from paramgen_jax.nn.unet1d import TokenUNet

INFERENCE_MODES = ("sequential", "partial", "parallel")


class RPGGenerator(nn.Module):
  """Prototype model + token denoiser.

  Attributes:
    token_size: entries per token (T).
    d_model: width of the recurrent model.
    prototype_dim: width of a prototype (P).
    prototype_hidden: hidden width of the MLP from the backbone to the prototypes (0: d_model).
    backbone: 'mamba', 'lstm', 'transformer' or 'gated_mlp'; backbone_options go to it.
    position: '2d', '1d', 'learnable' or 'none'.
    num_permutations: learnable permutation states (0 turns them off).
    condition_dim: width of the condition vector (0: unconditional).
    unet_encoder, unet_decoder: the denoiser's channel widths.
    denoiser_conditioning: 'per_layer' or 'shared' (official) time and prototype layers.
  """
  token_size: int
  d_model: int = 64
  prototype_dim: int = 64
  prototype_hidden: int = 0
  backbone: str = "mamba"
  backbone_options: Any = None
  position: str = "2d"
  num_permutations: int = 0
  condition_dim: int = 0
  condition_hidden: int = 128
  unet_encoder: tuple[int, ...] = (32, 64, 128)
  unet_decoder: tuple[int, ...] = (64, 32)
  denoiser_conditioning: str = "per_layer"

  def setup(self):
    self.positions = TokenPositions(self.d_model, self.position)
    if self.num_permutations:
      self.permutation_states = nn.Embed(
          self.num_permutations, self.d_model,
          embedding_init=nn.initializers.constant(1.0 / self.d_model))
    if self.condition_dim:
      self.condition_in = nn.Dense(self.condition_hidden)
      self.condition_out = nn.Dense(self.d_model)
    self.sequence = make_backbone(self.backbone, self.d_model, **dict(self.backbone_options or {}))
    self.to_prototype_hidden = nn.Dense(self.prototype_hidden or self.d_model)
    self.to_prototype = nn.Dense(self.prototype_dim)
    self.denoiser = TokenUNet(encoder=self.unet_encoder, decoder=self.unet_decoder,
                              conditioning=self.denoiser_conditioning)

  def prototypes(self, layer_index: jax.Array, token_in_layer: jax.Array,
                 permutation: jax.Array | None = None,
                 condition: jax.Array | None = None, batch: int = 1) -> jax.Array:
    """(S,), (S,), (B,) int, (B, C) -> (B, S, P) prototypes, B = `batch`.

    `batch` is given rather than read off the permutation or condition: a generator with
    neither has B models sharing their prototypes (only the denoiser's noise differs).
    """
    x = jnp.broadcast_to(self.positions(layer_index, token_in_layer)[None],
                         (batch, layer_index.shape[0], self.d_model))
    if self.num_permutations:
      x = x + self.permutation_states(permutation)[:, None, :]
    if self.condition_dim:
      x = x + self.condition_out(nn.silu(self.condition_in(condition)))[:, None, :]
    h = self.sequence(x)
    return self.to_prototype(nn.silu(self.to_prototype_hidden(h)))

  def denoise(self, x_t: jax.Array, t: jax.Array, prototype: jax.Array) -> jax.Array:
    """(M, T), (M,), (M, P) -> (M, T)."""
    return self.denoiser(x_t, t, prototype)

  def __call__(self, layer_index, token_in_layer, permutation, condition, x_t, t):
    """Touches every submodule (for `init`): prototypes of token 0 denoise x_t."""
    proto = self.prototypes(layer_index, token_in_layer, permutation, condition)
    return self.denoise(x_t, t, proto[:, 0])


def rpg_loss(model: RPGGenerator, params: Any, batch: dict, rng: jax.Array,
             schedule: diffusion.Schedule, *, diffusion_batch: int,
             prediction: str = "eps") -> tuple[jax.Array, dict]:
  """Diffusion loss on a random subset of tokens.

  Args:
    batch: {'tokens': (B, S, T) normalized, 'mask': (S, T) bool, 'layer_index': (S,),
      'token_in_layer': (S,), and 'permutation': (B,) int and/or 'condition': (B, C)}.
    diffusion_batch: how many (model, token) pairs the denoiser sees per step.
  """
  tokens = batch["tokens"]
  b, s, t = tokens.shape
  proto = model.apply(params, batch["layer_index"], batch["token_in_layer"],
                      batch.get("permutation"), batch.get("condition"), b,
                      method=RPGGenerator.prototypes)
  pick_key, loss_key = jax.random.split(rng)
  picked = jax.random.choice(pick_key, b * s, (min(diffusion_batch, b * s),), replace=False)
  x0 = tokens.reshape(b * s, t)[picked]
  mask = jnp.broadcast_to(batch["mask"][None], (b, s, t)).reshape(b * s, t)[picked]
  chosen_proto = proto.reshape(b * s, -1)[picked]

  def denoise(x_t, time, cond):
    return model.apply(params, x_t, time, cond, method=RPGGenerator.denoise)

  return diffusion.diffusion_loss(denoise, schedule, x0, loss_key, cond=chosen_proto,
                                  prediction=prediction, mask=mask)


def sample_tokens(model: RPGGenerator, params: Any, prototypes: jax.Array, key: jax.Array,
                  schedule: diffusion.Schedule, *, mode: str = "partial", chunk: int = 64,
                  first: int | jax.Array = 0, **sampler_kwargs) -> jax.Array:
  """Generates tokens from prototypes (M, P) -> (M, T); token m uses fold_in(key, first + m).

  Args:
    mode: 'sequential', 'partial' (`chunk` tokens at a time) or 'parallel'.
    first: the index of the first token among all tokens generated with `key` (may be
      traced): a block of the tokens (one device's, `token_parallel`) is then that of the
      whole.
    sampler_kwargs: passed to `diffusion.sample` (sampler, steps, eta, prediction, clip_x0).
  """
  if mode not in INFERENCE_MODES:
    raise ValueError(f"inference mode must be one of {', '.join(INFERENCE_MODES)}, got {mode!r}")
  total = prototypes.shape[0]
  size = {"sequential": 1, "partial": min(chunk, total), "parallel": total}[mode]
  size = memory.balanced(total, size)  # as many chunks, evened out: the least padding
  keys = jax.vmap(lambda m: jax.random.fold_in(key, m))(first + jnp.arange(total))

  def denoise(x_t, time, cond):
    return model.apply(params, x_t, time, cond, method=RPGGenerator.denoise)

  def one_token(proto, token_key):
    out = diffusion.sample(denoise, schedule, (1, model.token_size), token_key,
                           cond=proto[None], **sampler_kwargs)
    return out[0]

  chunks = -(-total // size)
  pad = chunks * size - total
  protos = jnp.pad(prototypes, ((0, pad), (0, 0))).reshape(chunks, size, -1)
  keys = jnp.concatenate([keys, keys[:pad]]).reshape(chunks, size, *keys.shape[1:])
  tokens = jax.lax.map(lambda args: jax.vmap(one_token)(*args), (protos, keys))
  return tokens.reshape(chunks * size, model.token_size)[:total]
