"""LoRAGen's stage 1: a LoRA VAE with one latent per location and a module-aware MoE decoder.

    vae = LoRAVAE(plan, latent_dim=64, ...)
    mean, logvar = vae.apply(p, x, method=LoRAVAE.encode)   # x {module: (B, L_m, size_m)}
    x_hat, aux = vae.apply(p, z, tau, method=LoRAVAE.decode)  # z (B, N, d_z)

Inputs are the plan's per-module rows divided by fixed per-coordinate scales (`core`).
Encoder: per matrix type (A or B of one shape, shared by the modules that have it; a dense
module's flat vector) flattened -> Dense -> ReLU (hidden) -> Dense; a location's two codes are
concatenated and mapped to the diagonal Gaussian's mean and log-variance (2 d_z).
Decoder: `nn.moe.MoEDeltaDecoder`.

`vae_loss` is LoRAGen's eq. 5: α_ang · direction + α_spec · spectral (both on ΔW = A B through
`params.lowrank`) + α_rec · MSE on the factors (0 by default, as the official configs) for
LoRA locations, MSE for dense locations, β · KL, and λ_moe · the load-balancing loss.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from paramgen_jax.methods.loragen.locations import LocationPlan, factors
from paramgen_jax.nn.moe import MoEDeltaDecoder
from paramgen_jax.params import lowrank


def _encoder_key(module: Any, matrix: int) -> str:
  if module.kind == "dense":
    return f"dense_{module.name}"
  return f"{'AB'[matrix]}_{'x'.join(map(str, module.shapes[matrix]))}"


class LoRAVAE(nn.Module):
  plan: LocationPlan
  latent_dim: int = 64
  encoder_hidden: int = 128
  num_experts: int = 4
  top_k: int = 1
  expert_hidden: int = 256
  expert_features: int = 128
  shared_pool: bool = False
  structural: bool = True
  moe: bool = True  # False: one plain MLP decoder for every location (Table 4's "no D_θ")

  def setup(self):
    keys = sorted({_encoder_key(m, i) for m in self.plan.modules
                   for i in range(2 if m.kind == "lora" else 1)})
    self.encoders = {k: nn.Dense(self.encoder_hidden, name=f"enc_{k}") for k in keys}
    self.posteriors = {m.name: nn.Dense(2 * self.latent_dim, name=f"posterior_{m.name}")
                       for m in self.plan.modules}
    self.decoder = MoEDeltaDecoder(
        self.plan.names, self.plan.num_layers, tuple(m.size for m in self.plan.modules),
        num_experts=self.num_experts if self.moe else 1, top_k=self.top_k if self.moe else 1,
        hidden=self.expert_hidden, expert_features=self.expert_features,
        shared_pool=self.shared_pool or not self.moe, structural=self.structural)

  def encode(self, x: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """{module: (..., L_m, size_m)} -> mean, logvar (..., N, d_z), locations module-major."""
    stats = []
    for m in self.plan.modules:
      rows = x[m.name]
      parts = factors(m, rows) if m.kind == "lora" else (rows,)
      codes = [nn.relu(self.encoders[_encoder_key(m, i)](
          p.reshape(p.shape[:rows.ndim - 1] + (-1,)))) for i, p in enumerate(parts)]
      stats.append(self.posteriors[m.name](jnp.concatenate(codes, axis=-1)))
    stats = jnp.concatenate(stats, axis=-2)
    return stats[..., :self.latent_dim], jnp.clip(stats[..., self.latent_dim:], -30.0, 20.0)

  def decode(self, z: jax.Array, temperature: float | jax.Array = 1.0):
    """z (B, N, d_z) -> ({module: (B, L_m, size_m)}, MoE aux over all B·N locations)."""
    b, n, d = z.shape
    module_ids = jnp.tile(jnp.asarray(self.plan.module_ids), b)
    layer_ids = jnp.tile(jnp.asarray(self.plan.layer_ids), b)
    out, aux = self.decoder(z.reshape(b * n, d), module_ids, layer_ids, temperature)
    per_module, start = {}, 0
    for m in self.plan.modules:
      rows = out[m.name].reshape(b, n, -1)
      per_module[m.name] = rows[:, start:start + len(m.layers)]
      start += len(m.layers)
    return per_module, aux

  def __call__(self, x: dict[str, jax.Array], key: jax.Array, temperature=1.0):
    mean, logvar = self.encode(x)
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape, mean.dtype)
    x_hat, aux = self.decode(z, temperature)
    return x_hat, mean, logvar, aux


class LossWeights(NamedTuple):
  direction: float = 1.0
  spectral: float = 2.0
  rec: float = 0.0
  dense: float = 1.0
  kl: float = 1e-6
  balance: float = 1e-5
  rho: float = 0.85
  p: int = 1


def adapter_losses(plan: LocationPlan, x_hat: dict, x: dict, w: LossWeights,
                   sigma_units: dict | None = None) -> dict:
  """Mean per-location losses over a batch: {'direction', 'spectral', 'rec', 'dense'}.

  sigma_units: {module: the zoo's mean top singular value of ΔW}; singular values are
  compared in these units (default 1), so that α_spec means the same for any adapter scale.
  """
  found = {"direction": [], "spectral": [], "rec": [], "dense": []}
  pair = lambda f: jax.vmap(jax.vmap(f))
  for m in plan.modules:
    if m.kind == "dense":
      found["dense"].append(jnp.mean((x_hat[m.name] - x[m.name]) ** 2))
      continue
    (a_hat, b_hat), (a, b) = factors(m, x_hat[m.name]), factors(m, x[m.name])
    found["direction"].append(jnp.mean(pair(lowrank.direction_loss)(a_hat, b_hat, a, b)))
    unit = 1.0 if sigma_units is None else sigma_units[m.name]
    spectral = lambda ah, bh, a_, b_: lowrank.spectral_loss(ah / unit, bh, a_ / unit, b_,
                                                            rho=w.rho, p=w.p)
    found["spectral"].append(jnp.mean(pair(spectral)(a_hat, b_hat, a, b)))
    found["rec"].append(jnp.mean((x_hat[m.name] - x[m.name]) ** 2))
  return {k: jnp.mean(jnp.stack(v)) if v else jnp.float32(0.0) for k, v in found.items()}


def vae_loss(model: LoRAVAE, params: Any, x: dict, key: jax.Array, temperature: jax.Array,
             balance_scale: jax.Array, w: LossWeights,
             sigma_units: dict | None = None) -> tuple[jax.Array, dict]:
  """LoRAGen eq. 5 on a batch x {module: (B, L_m, size_m)} -> (loss, metrics).

  balance_scale: the warm-up factor in [0, 1] of the load-balancing weight; sigma_units: see
  `adapter_losses`."""
  x_hat, mean, logvar, aux = model.apply(params, x, key, temperature)
  parts = adapter_losses(model.plan, x_hat, x, w, sigma_units)
  kl = 0.5 * jnp.mean(jnp.sum(mean**2 + jnp.exp(logvar) - 1.0 - logvar, axis=-1))
  loss = (w.direction * parts["direction"] + w.spectral * parts["spectral"]
          + w.rec * parts["rec"] + w.dense * parts["dense"] + w.kl * kl
          + w.balance * balance_scale * aux["balance"])
  return loss, {**parts, "kl": kl, "balance": aux["balance"]}
