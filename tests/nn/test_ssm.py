"""Selective scan: lax.scan = associative_scan = a float64 loop; Mamba layers are causal."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.nn.ssm import MambaLayer, MambaStack, causal_depthwise_conv1d, selective_scan


def inputs(L=37, D=5, N=4, seed=0):
  k = jax.random.split(jax.random.key(seed), 6)
  u = jax.random.normal(k[0], (L, D))
  delta = jax.nn.softplus(jax.random.normal(k[1], (L, D)))
  A = -jnp.exp(jax.random.normal(k[2], (D, N)))
  B = jax.random.normal(k[3], (L, N))
  C = jax.random.normal(k[4], (L, N))
  D_skip = jax.random.normal(k[5], (D,))
  return u, delta, A, B, C, D_skip


def reference(u, delta, A, B, C, D_skip):
  u, delta, A, B, C, D_skip = (np.asarray(a, np.float64) for a in (u, delta, A, B, C, D_skip))
  h = np.zeros(A.shape)
  ys = []
  for t in range(u.shape[0]):
    h = np.exp(delta[t][:, None] * A) * h + (delta[t] * u[t])[:, None] * B[t][None, :]
    ys.append(h @ C[t] + D_skip * u[t])
  return np.stack(ys)


def test_scan_and_associative_scan_agree_with_a_float64_loop():
  args = inputs()
  expected = reference(*args)
  for mode in ("scan", "associative"):
    np.testing.assert_allclose(selective_scan(*args, mode=mode), expected, rtol=1e-4, atol=1e-5)


def test_gradients_agree():
  args = inputs(L=16)
  loss = lambda mode: lambda *a: jnp.sum(jnp.sin(selective_scan(*a, mode=mode)))
  g_scan = jax.grad(loss("scan"), argnums=(0, 1, 2, 3, 4, 5))(*args)
  g_assoc = jax.grad(loss("associative"), argnums=(0, 1, 2, 3, 4, 5))(*args)
  for a, b in zip(g_scan, g_assoc):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_bad_mode():
  with pytest.raises(ValueError, match="mode"):
    selective_scan(*inputs(), mode="chunked")


def test_causal_conv():
  x = jnp.arange(12.0).reshape(6, 2)
  kernel = jnp.array([[1.0, 0.0], [0.0, 0.0], [2.0, 1.0]])  # taps at t-2, t-1, t
  y = causal_depthwise_conv1d(x, kernel)
  np.testing.assert_allclose(y[:, 0], 2 * x[:, 0] + jnp.concatenate([jnp.zeros(2), x[:-2, 0]]))
  np.testing.assert_allclose(y[:, 1], x[:, 1])


def test_mamba_layer_is_causal_and_modes_agree():
  x = jax.random.normal(jax.random.key(0), (12, 8))
  layer = MambaLayer(8, d_state=4)
  params = layer.init(jax.random.key(1), x)
  jac = jax.jacfwd(lambda x: layer.apply(params, x))(x)  # (L, d, L, d)
  future = np.triu(np.ones((12, 12)), k=1).astype(bool)   # output i, input j > i
  assert np.abs(np.asarray(jac).transpose(0, 2, 1, 3)[future]).max() == 0.0
  assoc = MambaLayer(8, d_state=4, mode="associative").apply(params, x)
  np.testing.assert_allclose(layer.apply(params, x), assoc, rtol=1e-4, atol=1e-5)


def test_mamba_stack_batches():
  x = jax.random.normal(jax.random.key(0), (3, 10, 8))
  stack = MambaStack(8, num_layers=2, d_state=4)
  params = stack.init(jax.random.key(1), x)
  out = stack.apply(params, x)
  assert out.shape == x.shape
  single = stack.apply(params, x[1:2])
  np.testing.assert_allclose(out[1:2], single, rtol=1e-5, atol=1e-6)
