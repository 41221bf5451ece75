"""The token denoiser: shapes, conditioning, and tokens denoised independently."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.nn.unet1d import TokenUNet


def setup(token_size=16, batch=4, cond_dim=6, conditioning="shared"):
  model = TokenUNet(encoder=(8, 16, 32), decoder=(16, 8), conditioning=conditioning)
  k = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(k[0], (batch, token_size))
  t = jnp.arange(batch, dtype=jnp.int32) * 100
  c = jax.random.normal(k[1], (batch, cond_dim))
  params = model.init(k[2], x, t, c)
  return model, params, x, t, c


@pytest.mark.parametrize("conditioning,layers", [
    ("shared", {"shared_cond", "shared_time_in", "shared_time_out"}),
    ("per_layer", {"enc2_cond", "out_time_out", "dec0_time_in"})])
def test_shapes_and_conditioning(conditioning, layers):
  model, params, x, t, c = setup(conditioning=conditioning)
  out = model.apply(params, x, t, c)
  assert out.shape == x.shape and np.all(np.isfinite(out))
  assert float(jnp.abs(model.apply(params, x, t, c + 1.0) - out).max()) > 1e-4
  assert float(jnp.abs(model.apply(params, x, t + 7, c) - out).max()) > 1e-6
  names = set(params["params"])
  assert {"enc0_conv", "dec1_norm", "out_conv"} | layers <= names
  assert not {"shared_cond", "enc2_cond"} - layers & names


def test_shared_conditioning_has_the_official_parameter_count():
  """RPG's ConditionalUNet at token 256, prototype 256, channels 1-16-32-64-32-16-1:
  time MLP 2·(256·256 + 256), prototype projection 256·256 + 256, convolutions Σ 7·in·out +
  out, and a scale and bias per normalized channel (BatchNorm there, GroupNorm here)."""
  model = TokenUNet(encoder=(16, 32, 64), decoder=(32, 16), conditioning="shared")
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 256)),
                          jnp.zeros((1,), jnp.int32), jnp.zeros((1, 256)))
  count = sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(shapes))
  widths = (1, 16, 32, 64, 32, 16, 1)
  convs = sum(7 * a * b + b for a, b in zip(widths, widths[1:]))
  assert count == 2 * (256 * 256 + 256) + (256 * 256 + 256) + convs + 2 * sum(widths[1:-1])
  assert count == 233_921


def test_unknown_conditioning_is_one_clear_line():
  with pytest.raises(ValueError, match="conditioning must be one of shared, per_layer"):
    setup(conditioning="film")


def test_tokens_are_denoised_independently():
  model, params, x, t, c = setup()
  out = model.apply(params, x, t, c)
  alone = model.apply(params, x[2:3], t[2:3], c[2:3])
  # GPUs run float32 convolutions in TF32 and pick kernels by batch size.
  tol = 1e-5 if jax.default_backend() == "cpu" else 5e-3
  np.testing.assert_allclose(out[2:3], alone, rtol=tol, atol=tol)
