"""Marchenko–Pastur selection: noise has nothing above the edge, planted signals are found."""

import numpy as np
import pytest

from paramgen_jax.params.spectrum import mp_edge, mp_spectrum, rank_layers, select_layers


@pytest.mark.parametrize("shape", [(200, 100), (128, 384), (300, 300)])
def test_random_matrices_have_nothing_above_the_edge(shape):
  rng = np.random.default_rng(sum(shape))
  for trial in range(20):
    w = 0.02 * rng.normal(size=shape)
    spec = mp_spectrum(w)
    assert spec.above == 0
    # The largest singular value sits at the asymptotic edge within the finite-size margin.
    bare = mp_edge(shape, spec.sigma)
    assert 0.9 < spec.singular_values[0] / bare < 1.0 + 2 * min(shape) ** (-2 / 3)


def test_planted_low_rank_signals_are_each_detected():
  rng = np.random.default_rng(0)
  m, n, sigma = 300, 200, 1.0
  noise = sigma * rng.normal(size=(m, n))
  u, _ = np.linalg.qr(rng.normal(size=(m, 3)))
  v, _ = np.linalg.qr(rng.normal(size=(n, 3)))
  # Above the BBP threshold σ(mn)^(1/4) ≈ 15.7 each spike separates from the bulk.
  strengths = np.array([60.0, 45.0, 35.0])
  spec = mp_spectrum(noise + (u * strengths) @ v.T, sigma=sigma)
  assert spec.above == 3
  assert spec.edge == pytest.approx(mp_edge((m, n), sigma) * (1 + 2 * n ** (-2 / 3)))
  assert spec.snr > 0


def test_snr_is_equation_8():
  w = np.diag([10.0, 1.0, 1.0, 1.0])
  spec = mp_spectrum(w, sigma=0.5, margin=0.0)  # edge 0.5 * (2 + 2) = 2
  assert spec.above == 1 and spec.snr == pytest.approx(10.0 / 3.0)


def test_ranking_and_selection_prefer_structure():
  rng = np.random.default_rng(1)
  noise = {f"noise{i}": rng.normal(size=(64, 64)) for i in range(6)}
  u, v = rng.normal(size=(64, 1)), rng.normal(size=(1, 64))
  weights = noise | {"signal": rng.normal(size=(64, 64)) + 3 * u @ v}
  assert rank_layers(weights)[0][0] == "signal"
  assert select_layers(weights, 0.25) == [name for name, _ in rank_layers(weights)[:2]]
  with pytest.raises(ValueError, match="fraction"):
    select_layers(weights, 0.0)
