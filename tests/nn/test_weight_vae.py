"""The D2NWG weight VAE: shapes, KL known answers, masked loss, bad lengths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.nn.weight_vae import WeightVAE, gaussian_kl, vae_loss


def test_shapes_and_latent_shape():
  model = WeightVAE(length=192, chunk=32, features=32, channels=(8, 16), latent_channels=3)
  v = model.init(jax.random.key(0), jnp.zeros(192))
  mean, logvar = model.apply(v, jnp.ones(192), method=WeightVAE.encode)
  assert mean.shape == logvar.shape == model.latent_shape == (8, 3)
  assert model.apply(v, mean, method=WeightVAE.decode).shape == (192,)


def test_kl_known_answers():
  assert float(gaussian_kl(jnp.zeros((4, 2)), jnp.zeros((4, 2)))) == 0.0
  # KL(N(1, 1) || N(0, 1)) = 1/2 per coordinate; KL(N(0, e) || N(0, 1)) = (e - 1 - 1) / 2.
  np.testing.assert_allclose(gaussian_kl(jnp.ones(3), jnp.zeros(3)), 1.5, rtol=1e-6)
  np.testing.assert_allclose(gaussian_kl(jnp.zeros(1), jnp.ones(1)), (np.e - 2) / 2, rtol=1e-6)


def test_loss_ignores_padding_targets_and_weights_kl_by_beta():
  model = WeightVAE(length=64, chunk=32, features=16, channels=(8,), latent_channels=2)
  v = model.init(jax.random.key(0), jnp.zeros(64))
  w, key = jax.random.normal(jax.random.key(1), (3, 64)), jax.random.key(2)
  mask = jnp.arange(64) < 40
  loss, parts = vae_loss(model, v, w, key, beta=0.0, mask=mask)
  w_hat = jax.vmap(lambda x: model.apply(v, x))(w)
  del w_hat  # the loss samples z, so compare its parts instead of a deterministic output
  assert float(loss) == pytest.approx(float(parts["mse"]))
  loss_b, parts_b = vae_loss(model, v, w, key, beta=0.5, mask=mask)
  np.testing.assert_allclose(loss_b, parts_b["mse"] + 0.5 * parts_b["kl"], rtol=1e-6)
  per_row = jnp.broadcast_to(mask, w.shape)
  np.testing.assert_allclose(vae_loss(model, v, w, key, mask=per_row)[0],
                             vae_loss(model, v, w, key, mask=mask)[0], rtol=1e-6)


def test_bad_length_is_one_clear_error():
  with pytest.raises(ValueError, match="not a multiple of the chunk"):
    WeightVAE(length=100, chunk=32).init(jax.random.key(0), jnp.zeros(100))
