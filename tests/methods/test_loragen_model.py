"""LoRAGen's locations, VAE losses and in-memory train / generate at toy size."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from paramgen_jax.methods import loragen
from paramgen_jax.methods.loragen import core
from paramgen_jax.methods.loragen.locations import LocationPlan, factors
from paramgen_jax.methods.loragen.model import LoRAVAE, LossWeights, adapter_losses
from tests.helpers import load_config


def _adapter(key, layers=3, d=6, r=2):
  keys = jax.random.split(key, 2 * layers + 2)
  tree = {f"Block_{i}": {"query": {"lora_a": jax.random.normal(keys[2 * i], (d, r)),
                                   "lora_b": jax.random.normal(keys[2 * i + 1], (r, d + 1))}}
          for i in range(layers)}
  tree["Dense_0"] = {"kernel": jax.random.normal(keys[-2], (d, 2)),
                     "bias": jax.random.normal(keys[-1], (2,))}
  return {"params": tree}


def test_location_plan_round_trip_and_ids():
  tree = _adapter(jax.random.key(0), layers=11)
  plan = LocationPlan.from_template(tree)
  assert plan.names == ("query", "Dense_0")
  # natural layer order: Block_2 before Block_10
  assert plan.modules[0].layers[:3] == ("params/Block_0", "params/Block_1", "params/Block_2")
  assert plan.module_ids.tolist() == [0] * 11 + [1]
  assert plan.layer_ids.tolist() == list(range(11)) + [0]
  rows = plan.split(tree)
  assert rows["query"].shape == (11, 6 * 2 + 2 * 7) and rows["Dense_0"].shape == (1, 14)
  a, b = factors(plan.modules[0], rows["query"])
  np.testing.assert_array_equal(a[4], tree["params"]["Block_4"]["query"]["lora_a"])
  back = plan.join(rows)
  for got, want in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(tree)):
    np.testing.assert_array_equal(got, want)


def test_layers_of_one_module_must_share_shapes():
  tree = _adapter(jax.random.key(0))
  tree["params"]["Block_1"]["query"]["lora_a"] = jnp.zeros((5, 2))
  with pytest.raises(ValueError, match="different shapes"):
    LocationPlan.from_template(tree)


def test_adapter_losses_are_zero_for_a_refactored_adapter_but_rec_is_not():
  tree = _adapter(jax.random.key(1))
  plan = LocationPlan.from_template(tree)
  x = {k: v[None] for k, v in plan.split(tree).items()}
  mix = jnp.asarray([[2.0, 1.0], [0.5, 3.0]])
  refactored = jax.tree_util.tree_map(lambda v: v, tree)
  for i in range(3):
    q = refactored["params"][f"Block_{i}"]["query"]
    q["lora_a"], q["lora_b"] = q["lora_a"] @ mix, jnp.linalg.solve(mix, q["lora_b"])
  x_hat = {k: v[None] for k, v in plan.split(refactored).items()}
  found = adapter_losses(plan, x_hat, x, LossWeights())
  assert float(found["direction"]) == pytest.approx(0.0, abs=1e-5)
  assert float(found["spectral"]) == pytest.approx(0.0, abs=1e-4)
  assert float(found["dense"]) == 0.0 and float(found["rec"]) > 0.1


def test_vae_encodes_one_latent_per_location_and_decodes_every_module():
  tree = _adapter(jax.random.key(2))
  plan = LocationPlan.from_template(tree)
  x = {k: v[None].repeat(4, 0) for k, v in plan.split(tree).items()}
  vae = LoRAVAE(plan, latent_dim=5, encoder_hidden=8, expert_hidden=8, expert_features=8)
  params = vae.init(jax.random.key(0), x, jax.random.key(1), 1.5)
  mean, logvar = vae.apply(params, x, method=LoRAVAE.encode)
  assert mean.shape == logvar.shape == (4, plan.num_locations, 5)
  x_hat, aux = vae.apply(params, mean, 1.2, method=LoRAVAE.decode)
  assert {k: v.shape for k, v in x_hat.items()} == {k: v.shape for k, v in x.items()}
  assert aux["load"].shape == (2, 4)
  # A and B of one shape share an encoder across modules; every module has its posterior.
  names = set(params["params"])
  assert {"enc_A_6x2", "enc_B_2x7", "enc_dense_Dense_0", "posterior_query"} <= names


def test_train_and_generate_in_memory_at_toy_size():
  config = load_config("loragen_lora", "smoke")
  keys = jax.random.split(jax.random.key(3), 6)
  stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[_adapter(k) for k in keys])
  conditions = np.asarray(jax.random.normal(jax.random.key(4), (6, 7)), np.float32)
  generator = loragen.train(stacked, config, conditions=conditions)
  models = loragen.generate(generator, jax.random.key(5), conditions[0], 3)
  for got, want in zip(jax.tree_util.tree_leaves(models), jax.tree_util.tree_leaves(stacked)):
    assert got.shape == (3,) + want.shape[1:] and np.isfinite(np.asarray(got)).all()
  again = loragen.generate(generator, jax.random.key(5), conditions[0], 3)
  for a, b in zip(jax.tree_util.tree_leaves(models), jax.tree_util.tree_leaves(again)):
    np.testing.assert_array_equal(a, b)  # one key, one result


@pytest.mark.parametrize("mutate, message", [
    (lambda c: delattr(c, "adapter"), r"^config\.adapter: LoRAGen generates LoRA adapters"),
    (lambda c: c.vae.update(top_k=5), r"^config\.vae\.top_k: must be at most vae\.num_experts"),
    (lambda c: c.dit.update(heads=3), r"^config\.dit\.heads: must divide dit\.dim"),
    (lambda c: c.dit.update(latent_norm="minmax"), r"^config\.dit\.latent_norm: must be one of"),
])
def test_bad_loragen_configs_are_one_line(mutate, message):
  from paramgen_jax import configlib, pipeline
  config = load_config("loragen_lora", "smoke")
  config.unlock()
  mutate(config)
  with pytest.raises(configlib.ConfigError, match=message):
    pipeline.validate(config, 1)
