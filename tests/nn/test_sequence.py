"""Backbones: causal ones depend on no later input; the gated MLP mixes no tokens at all."""

import jax
import numpy as np
import pytest

from paramgen_jax.nn.sequence import BACKBONES, make_backbone

OPTIONS = {"mamba": dict(d_state=4, num_layers=1), "lstm": dict(num_layers=1),
           "transformer": dict(num_layers=1, heads=2), "gated_mlp": dict(num_layers=1)}


def dependence(kind, length=7, dim=8):
  """|d out_i / d in_j| summed over features: (L, L)."""
  model = make_backbone(kind, dim, **OPTIONS[kind])
  x = jax.random.normal(jax.random.key(0), (1, length, dim))
  params = model.init(jax.random.key(1), x)
  jac = jax.jacfwd(lambda x: model.apply(params, x))(x)  # (1, L, d, 1, L, d)
  return np.abs(np.asarray(jac)[0, :, :, 0]).sum(axis=(1, 3))


@pytest.mark.parametrize("kind", ["mamba", "lstm", "transformer"])
def test_causal_backbones_ignore_the_future(kind):
  dep = dependence(kind)
  assert np.all(dep[np.triu_indices(7, k=1)] == 0.0)      # no output depends on a later input
  assert np.all(dep[np.tril_indices(7, k=-1)] > 0.0)      # ... but on earlier ones


def test_gated_mlp_mixes_no_tokens():
  dep = dependence("gated_mlp")
  assert np.all(dep[~np.eye(7, dtype=bool)] == 0.0) and np.all(np.diag(dep) > 0)


def test_registry():
  assert set(OPTIONS) == set(BACKBONES)
  with pytest.raises(ValueError, match="unknown backbone"):
    make_backbone("rwkv", 8)
