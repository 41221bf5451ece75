"""p-diff's parameter autoencoder: shapes, padding rule, masked noisy loss, it learns."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from paramgen_jax.nn.autoencoder1d import ParamAutoencoder, autoencoder_loss
from paramgen_jax.params import padded_length


def test_padded_length():
  assert padded_length(8578, multiple=32) == 8608 and padded_length(64, multiple=8) == 64


def test_shapes_and_length_check():
  ae = ParamAutoencoder(length=64, channels=(4, 8, 8), latent_dim=6)
  x = jnp.linspace(-1, 1, 64)
  variables = ae.init(jax.random.key(0), x)
  z = ae.apply(variables, x, method=ParamAutoencoder.encode)
  assert z.shape == (6,)
  assert ae.apply(variables, z, method=ParamAutoencoder.decode).shape == (64,)
  with pytest.raises(ValueError, match="multiple of 2\\^3"):
    ParamAutoencoder(length=60, channels=(4, 8, 8)).init(jax.random.key(0), jnp.zeros(60))


def test_loss_scores_only_real_entries_and_uses_its_noise():
  ae = ParamAutoencoder(length=32, channels=(4, 4), latent_dim=4)
  x = jax.random.normal(jax.random.key(1), (3, 32))
  params = ae.init(jax.random.key(0), x[0])
  mask = jnp.arange(32) < 27
  loss = lambda data, **kw: autoencoder_loss(ae, params, data, jax.random.key(2), mask=mask,
                                             **kw)[0]
  clean = loss(x, input_noise=0.0, latent_noise=0.0)
  recon = jax.vmap(lambda v: ae.apply(params, v))(x)
  np.testing.assert_allclose(clean, jnp.mean(jnp.square(recon - x)[:, :27]), rtol=1e-5)
  assert float(loss(x, latent_noise=1.0)) != float(clean)


def test_it_learns_a_small_family_of_vectors():
  """8 vectors on a 2-D manifold: reconstruction error falls well below their variance."""
  ae = ParamAutoencoder(length=64, channels=(8, 16, 16), latent_dim=4)
  grid = jnp.linspace(0, 1, 64)
  x = jnp.stack([jnp.sin(6 * grid * a + b) for a, b in zip(jnp.linspace(0.5, 1.5, 8),
                                                              jnp.linspace(0, 1, 8))])
  params = ae.init(jax.random.key(0), x[0])
  tx = optax.adam(3e-3)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, key):
    (l, _), g = jax.value_and_grad(lambda p: autoencoder_loss(ae, p, x, key), has_aux=True)(
        params)
    updates, opt = tx.update(g, opt)
    return optax.apply_updates(params, updates), opt, l

  for i in range(300):
    params, opt, l = step(params, opt, jax.random.key(i))
  assert float(l) < 0.05 * float(jnp.var(x))
