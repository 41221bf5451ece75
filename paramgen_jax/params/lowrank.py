"""Adapter-level comparisons of low-rank updates ΔW = A B without forming ΔW.

A is (d_in, r) and B is (r, d_out), as `zoo.lora` stores them, so ΔW is (d_in, d_out). Every
function here works on one pair and costs O((d_in + d_out) r²); vmap for a batch.

    lowrank_inner(a1, b1, a2, b2)        ⟨A1 B1, A2 B2⟩_F = Σ (A1ᵀA2) ⊙ (B1 B2ᵀ)
    lowrank_singular_values(a, b)        σ(A B), descending, (r,): QR of A and Bᵀ, SVD of R_A R_Bᵀ
    direction_loss(a_hat, b_hat, a, b)   1 - cos(ΔŴ, ΔW)                    (LoRAGen eq. 2)
    spectral_loss(a_hat, b_hat, a, b)    weighted ℓ_p gap of the top-k singular values, k the
                                         fewest covering ρ of ΔW's energy   (LoRAGen eq. 3)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

EPS = 1e-12


def lowrank_inner(a1: jax.Array, b1: jax.Array, a2: jax.Array, b2: jax.Array) -> jax.Array:
  """Frobenius inner product of A1 B1 and A2 B2: a (d_in, r), b (r, d_out) -> scalar."""
  return jnp.sum((a1.T @ a2) * (b1 @ b2.T))


def lowrank_norm(a: jax.Array, b: jax.Array) -> jax.Array:
  """‖A B‖_F (scalar), safe to differentiate at zero."""
  return jnp.sqrt(jnp.maximum(lowrank_inner(a, b, a, b), EPS))


def direction_loss(a_hat: jax.Array, b_hat: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
  """1 - ⟨ΔŴ, ΔW⟩_F / (‖ΔŴ‖_F ‖ΔW‖_F), in [0, 2]; invariant to how each ΔW is factored."""
  return 1.0 - lowrank_inner(a_hat, b_hat, a, b) / (lowrank_norm(a_hat, b_hat) * lowrank_norm(a, b))


def _orthogonal_jitter(m: jax.Array) -> jax.Array:
  # QR's derivative needs full column rank; a fresh LoRA's B is all zeros.
  eye = jnp.eye(m.shape[0], m.shape[1], dtype=m.dtype)
  return m + 1e-12 * eye


def lowrank_singular_values(a: jax.Array, b: jax.Array) -> jax.Array:
  """The r singular values of A B, descending: A = Q_A R_A, Bᵀ = Q_B R_B, so A B has the
  singular values of the r×r core R_A R_Bᵀ. Needs d_in, d_out ≥ r."""
  _, r_a = jnp.linalg.qr(_orthogonal_jitter(a))
  _, r_b = jnp.linalg.qr(_orthogonal_jitter(b.T))
  return jnp.linalg.svd(r_a @ r_b.T, compute_uv=False)


def energy_rank_mask(sigma: jax.Array, rho: float) -> jax.Array:
  """(r,) bool: the top-k of descending `sigma`, k the fewest whose σ² sum reaches ρ of the
  total (at least one)."""
  energy = sigma**2
  before = jnp.cumsum(energy) - energy  # energy of the values ranked above each one
  return before < rho * jnp.maximum(jnp.sum(energy), EPS)


def spectral_loss(a_hat: jax.Array, b_hat: jax.Array, a: jax.Array, b: jax.Array, *,
                  rho: float = 0.85, p: int = 1) -> jax.Array:
  """Σ_{i<k} ω_i |σ_i(ΔŴ) - σ_i(ΔW)|^p with ω = σ(ΔW) / Σ_{i<k} σ(ΔW) (held fixed) and k from
  `energy_rank_mask(σ(ΔW), rho)`."""
  sigma_hat = lowrank_singular_values(a_hat, b_hat)
  sigma = jax.lax.stop_gradient(lowrank_singular_values(a, b))
  keep = energy_rank_mask(sigma, rho)
  weights = jnp.where(keep, sigma, 0.0)
  weights = weights / jnp.maximum(jnp.sum(weights), EPS)
  return jnp.sum(weights * jnp.abs(sigma_hat - sigma) ** p)


def spectral_entropy(a: jax.Array, b: jax.Array) -> jax.Array:
  """Entropy (nats) of A B's normalized energy spectrum σ²/Σσ²: 0 for rank one, log r when
  flat (the paper's per-module spectral statistic)."""
  energy = lowrank_singular_values(a, b) ** 2
  q = energy / jnp.maximum(jnp.sum(energy), EPS)
  return -jnp.sum(jnp.where(q > 0, q * jnp.log(jnp.maximum(q, EPS)), 0.0))
