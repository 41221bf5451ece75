"""Marchenko–Pastur layer selection (D2NWG App. A.3, after Hartford et al. 2024).

For W (m, n) with i.i.d. entries of variance σ², the eigenvalues of the covariance
WᵀW / n fill [σ²(1 - √q)², σ²(1 + √q)²], q = min(m, n) / max(m, n) (n the longer side here),
as m, n grow. In singular values of W that is s ≤ ε₊ = σ(√m + √n): anything above the edge
is structure a random matrix would not have.

    report = mp_spectrum(W)                  # singular values, edge, signal count, SNR
    order = rank_layers({name: W, ...})      # names by SNR, highest first
    chosen = select_layers(weights, fraction=0.25)

At finite size the largest noise singular value fluctuates about ε₊ on the Tracy–Widom
scale, a relative min(m, n)^(-2/3); a singular value counts as signal only above
ε₊ · (1 + margin), margin = 2 · min(m, n)^(-2/3) by default (no noise matrix in
tests/params/test_spectrum.py's trials crosses it; without it about one in ten 300×300 noise
matrices shows a "signal").

SNR (eq. 8) = Σ s above the edge / Σ s at or below it. σ is estimated by the entries' std
about their mean (`sigma='std'`, what the spectrum method uses; signal inflates it, so the
test is conservative) or given.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np


class Spectrum(NamedTuple):
  """singular values (min(m, n),) descending; edge ε₊; sigma; above: how many exceed the
  edge; snr (eq. 8)."""
  singular_values: np.ndarray
  edge: float
  sigma: float
  above: int
  snr: float


def mp_edge(shape: tuple[int, int], sigma: float) -> float:
  """ε₊ = σ(√m + √n): the largest singular value of an (m, n) noise matrix, asymptotically."""
  m, n = shape
  return float(sigma * (np.sqrt(m) + np.sqrt(n)))


def mp_spectrum(w: np.ndarray, sigma: float | None = None,
                margin: float | None = None) -> Spectrum:
  """The MP analysis of one weight matrix (2-D; kernels are reshaped to (-1, last axis));
  `edge` includes the finite-size margin."""
  w = np.asarray(w, np.float64)
  w = w.reshape(-1, w.shape[-1]) if w.ndim != 2 else w
  s = np.linalg.svd(w, compute_uv=False)
  sigma = float(np.std(w)) if sigma is None else float(sigma)
  margin = 2.0 * min(w.shape) ** (-2 / 3) if margin is None else margin
  edge = mp_edge(w.shape, sigma) * (1.0 + margin)
  signal, noise = s[s > edge], s[s <= edge]
  snr = float(signal.sum() / noise.sum()) if noise.sum() > 0 else float("inf")
  return Spectrum(s, edge, sigma, int(signal.size), snr)


def rank_layers(weights: Mapping[str, np.ndarray]) -> list[tuple[str, Spectrum]]:
  """(name, spectrum) for every matrix, highest SNR first (ties by name)."""
  found = [(name, mp_spectrum(w)) for name, w in weights.items()]
  return sorted(found, key=lambda item: (-item[1].snr, item[0]))


def select_layers(weights: Mapping[str, np.ndarray], fraction: float = 0.25) -> list[str]:
  """The names of the top `fraction` of the matrices by SNR (at least one)."""
  if not 0 < fraction <= 1:
    raise ValueError(f"fraction must be in (0, 1], got {fraction}")
  ranked = rank_layers(weights)
  return [name for name, _ in ranked[:max(1, int(round(fraction * len(ranked))))]]
