"""Backbones: causal ones depend on no later input; the gated MLP mixes no tokens at all."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.nn.sequence import BACKBONES, make_backbone

OPTIONS = {"mamba": dict(d_state=4, num_layers=1),
           "mamba2": dict(d_state=4, num_layers=1, head_dim=8, chunk=4),
           "lstm": dict(num_layers=1),
           "transformer": dict(num_layers=1, heads=2), "gated_mlp": dict(num_layers=1)}


def dependence(kind, length=7, dim=8):
  """|d out_i / d in_j| summed over features: (L, L)."""
  model = make_backbone(kind, dim, **OPTIONS[kind])
  x = jax.random.normal(jax.random.key(0), (1, length, dim))
  params = model.init(jax.random.key(1), x)
  jac = jax.jacrev(lambda x: model.apply(params, x))(x)  # (1, L, d, 1, L, d)
  return np.abs(np.asarray(jac)[0, :, :, 0]).sum(axis=(1, 3))


@pytest.mark.parametrize("kind", ["mamba", "mamba2", "lstm", "transformer"])
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


def test_lstm_backward_pass_equals_autodiff_in_float64():
  from paramgen_jax.nn.sequence import lstm_scan, lstm_scan_reference
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    projected = jnp.asarray(rng.normal(size=(2, 13, 20)))
    recurrent = jnp.asarray(0.5 * rng.normal(size=(5, 20)))
    cotangent = jnp.asarray(rng.normal(size=(2, 13, 5)))
    loss = lambda fn: lambda p, w: jnp.sum(fn(p, w) * cotangent)
    np.testing.assert_allclose(lstm_scan(projected, recurrent, 3),
                               lstm_scan_reference(projected, recurrent), rtol=1e-12)
    ours = jax.grad(loss(lambda p, w: lstm_scan(p, w, 3)), argnums=(0, 1))(projected, recurrent)
    autodiff = jax.grad(loss(lstm_scan_reference), argnums=(0, 1))(projected, recurrent)
    for a, b in zip(ours, autodiff):
      np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_lstm_layer_equals_flax_lstm_cell():
  """The same cell as nn.RNN(nn.LSTMCell) once its eight kernels are concatenated."""
  import flax.linen as nn
  from paramgen_jax.nn.sequence import LSTMLayer
  x = jax.random.normal(jax.random.key(0), (2, 9, 4))
  reference = nn.RNN(nn.LSTMCell(3))
  cell = reference.init(jax.random.key(1), x)["params"]["cell"]
  cell = jax.tree_util.tree_map(lambda a: a + 0.1, cell)  # nonzero biases
  gates = ("i", "f", "g", "o")
  ours = {"params": {
      "input_kernel": jnp.concatenate([cell["i" + g]["kernel"] for g in gates], axis=1),
      "recurrent_kernel": jnp.concatenate([cell["h" + g]["kernel"] for g in gates], axis=1),
      "bias": jnp.concatenate([cell["h" + g]["bias"] for g in gates])}}
  assert jax.tree_util.tree_map(jnp.shape, ours) == jax.tree_util.tree_map(
      jnp.shape, LSTMLayer(3).init(jax.random.key(2), x))
  np.testing.assert_allclose(LSTMLayer(3, unroll=4).apply(ours, x),
                             reference.apply({"params": {"cell": cell}}, x), atol=1e-5)
