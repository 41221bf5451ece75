"""Mixture of experts with top-K routing, and LoRAGen's module-aware ΔW decoder built on it.

    layer = MoELayer(num_experts=4, top_k=1, hidden=256, features=128)
    y, aux = layer.apply(params, h, temperature)      # h (N, d) -> y (N, 128)
    aux["balance"]                                    # max(E Σ p̄ₑ f̄ₑ - 1, 0), f detached

    decoder = MoEDeltaDecoder(modules=("query", "value"), num_layers=4,
                              out_sizes=(256, 256), ...)
    flat, aux = decoder.apply(params, z, module_ids, layer_ids, temperature)
                                                      # z (N, d_z) -> {module: (n_m, size)}

Routing (LoRAGen eq. 6): logits Wᵣ h / τ; the K largest are kept and renormalized with a
softmax, the rest get gate 0. Every expert runs on every row (E is small, so the dense form is
cheaper than gathering); a row's output is Σ gates · expert outputs.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def top_k_gates(logits: jax.Array, k: int, temperature: float | jax.Array) -> jax.Array:
  """(N, E) logits -> (N, E) gates: softmax(logits / τ) over each row's top k, 0 elsewhere."""
  scaled = logits / temperature
  kth = jax.lax.top_k(scaled, k)[0][:, -1:]
  # Ties at the k-th value may admit more than k experts; routing logits are continuous.
  masked = jnp.where(scaled >= kth, scaled, -jnp.inf)
  return jax.nn.softmax(masked, axis=-1)


def _row_mean(values: jax.Array, weights: jax.Array | None) -> jax.Array:
  if weights is None:
    return jnp.mean(values, axis=0)
  w = weights.astype(values.dtype)[:, None]
  return jnp.sum(w * values, axis=0) / jnp.maximum(jnp.sum(w), 1.0)


def load_balance_loss(probs: jax.Array, gates: jax.Array,
                      weights: jax.Array | None = None) -> jax.Array:
  """max(E Σₑ p̄ₑ f̄ₑ - 1, 0): p̄ the mean router probability (N, E) -> (E,), f̄ the mean gate
  mass dispatched to each expert, detached; means over the rows where `weights` (N,) is set
  (all rows when None). 0 when load and probability are uniform."""
  num_experts = probs.shape[-1]
  p_bar = _row_mean(probs, weights)
  f_bar = jax.lax.stop_gradient(_row_mean(gates, weights))
  return jnp.maximum(num_experts * jnp.sum(p_bar * f_bar) - 1.0, 0.0)


class MoELayer(nn.Module):
  """Top-K mixture of `num_experts` MLPs (Dense -> SiLU -> Dense).

  __call__(h (N, d), temperature, rows (N,) bool or None) -> (y (N, features), aux) with
  aux = {'balance': scalar, 'load': (E,) fraction of rows routed to each expert, 'probs': (E,)
  mean router probability}, the statistics over `rows` (all when None).
  """
  num_experts: int
  top_k: int
  hidden: int
  features: int

  @nn.compact
  def __call__(self, h: jax.Array, temperature: float | jax.Array = 1.0,
               rows: jax.Array | None = None):
    if not 1 <= self.top_k <= self.num_experts:
      raise ValueError(f"top_k must be in [1, {self.num_experts}], got {self.top_k}")
    logits = nn.Dense(self.num_experts, use_bias=False, name="router")(h)
    gates = top_k_gates(logits, self.top_k, temperature)
    probs = jax.nn.softmax(logits / temperature, axis=-1)
    experts = nn.vmap(_Expert, in_axes=None, out_axes=1, variable_axes={"params": 0},
                      split_rngs={"params": True}, axis_size=self.num_experts)(
                          self.hidden, self.features, name="experts")
    outputs = experts(h)  # (N, E, features)
    y = jnp.einsum("ne,nef->nf", gates, outputs)
    aux = {"balance": load_balance_loss(probs, gates, rows),
           "load": _row_mean((gates > 0).astype(h.dtype), rows),
           "probs": _row_mean(probs, rows)}
    return y, aux


class _Expert(nn.Module):
  hidden: int
  features: int

  @nn.compact
  def __call__(self, h: jax.Array) -> jax.Array:
    hidden = nn.silu(nn.Dense(self.hidden, name="hidden")(h))
    return nn.Dense(self.features, name="out")(hidden)


class MoEDeltaDecoder(nn.Module):
  """LoRAGen's module-aware MoE decoder (eq. 7): location latents -> flat adapter parameters.

  Each location (module m, layer l) forms h = [z; e_m; e_l] (learned module and layer
  embeddings), goes through a MoE (one expert pool per module, or one shared pool), and a
  linear head per module, shared across layers, maps the mixed expert output to the module's
  `out_sizes[m]` parameters (the caller reshapes them to A and B).

  __call__(z (N, d_z), module_ids (N,) int in [0, len(modules)), layer_ids (N,) int,
  temperature) -> (out {module: (N, size)} — row i valid only where module_ids == m —, aux)
  with aux = {'balance': summed over pools, 'load': (pools, E), 'probs': (pools, E)}.
  Static shapes: every head runs on every row; a location takes its own module's head.
  """
  modules: Sequence[str]
  num_layers: int
  out_sizes: Sequence[int]
  num_experts: int = 4
  top_k: int = 1
  hidden: int = 256
  expert_features: int = 128
  shared_pool: bool = False
  structural: bool = True  # False: route on z alone (the paper's Fig. 3c ablation)

  @nn.compact
  def __call__(self, z: jax.Array, module_ids: jax.Array, layer_ids: jax.Array,
               temperature: float | jax.Array = 1.0):
    d_z = z.shape[-1]
    if self.structural:
      e_m = nn.Embed(len(self.modules), d_z, name="module_embedding")(module_ids)
      e_l = nn.Embed(self.num_layers, d_z, name="layer_embedding")(layer_ids)
      h = jnp.concatenate([z, e_m, e_l], axis=-1)
    else:
      h = z
    pools = 1 if self.shared_pool else len(self.modules)
    mixed, balance, loads, probs = 0.0, 0.0, [], []  # summed over pools / one row per pool
    for p in range(pools):
      mine = None if pools == 1 else module_ids == p
      y, aux = MoELayer(self.num_experts, self.top_k, self.hidden, self.expert_features,
                        name=f"pool_{p}")(h, temperature, mine)
      mixed = y if mine is None else mixed + jnp.where(mine[:, None], y, 0.0)
      balance = balance + aux["balance"]
      loads.append(aux["load"])
      probs.append(aux["probs"])
    out = {m: nn.Dense(size, name=f"head_{m}")(mixed)
           for m, size in zip(self.modules, self.out_sizes)}
    return out, {"balance": balance, "load": jnp.stack(loads), "probs": jnp.stack(probs)}
