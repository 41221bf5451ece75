"""The token denoiser: shapes, conditioning, and tokens denoised independently."""

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax.nn.unet1d import TokenUNet


def setup(token_size=16, batch=4, cond_dim=6):
  model = TokenUNet(encoder=(8, 16, 32), decoder=(16, 8))
  k = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(k[0], (batch, token_size))
  t = jnp.arange(batch, dtype=jnp.int32) * 100
  c = jax.random.normal(k[1], (batch, cond_dim))
  params = model.init(k[2], x, t, c)
  return model, params, x, t, c


def test_shapes_and_conditioning():
  model, params, x, t, c = setup()
  out = model.apply(params, x, t, c)
  assert out.shape == x.shape and np.all(np.isfinite(out))
  assert float(jnp.abs(model.apply(params, x, t, c + 1.0) - out).max()) > 1e-4
  assert float(jnp.abs(model.apply(params, x, t + 7, c) - out).max()) > 1e-6
  names = set(params["params"])
  assert {"enc0_conv", "dec1_norm", "out_conv", "enc2_cond", "out_time_out"} <= names


def test_tokens_are_denoised_independently():
  model, params, x, t, c = setup()
  out = model.apply(params, x, t, c)
  alone = model.apply(params, x[2:3], t[2:3], c[2:3])
  # GPUs run float32 convolutions in TF32 and pick kernels by batch size.
  tol = 1e-5 if jax.default_backend() == "cpu" else 5e-3
  np.testing.assert_allclose(out[2:3], alone, rtol=tol, atol=tol)
