"""LoRAGen's locations, VAE losses and in-memory train / generate at toy size."""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from paramgen_jax import artifact
from paramgen_jax.errors import CorruptDataError
from paramgen_jax.integrity import tree_checksum
from paramgen_jax.methods import loragen
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


def test_a_plan_of_any_model_keeps_its_tree_dtypes_and_empty_sub_dicts():
  variables = {"params": {"Dense_0": {"kernel": jnp.ones((3, 4), jnp.bfloat16),
                                      "bias": jnp.arange(4.0)},
                          "BatchNorm_0": {"scale": jnp.ones(4), "bias": jnp.zeros(4)},
                          "unused": {}},
               "batch_stats": {"BatchNorm_0": {"mean": jnp.arange(4.0), "var": jnp.ones(4)}}}
  plan = LocationPlan.from_template(variables)
  assert {m.kind for m in plan.modules} == {"dense"} and plan.empty == ("params/unused",)
  rows = plan.split(variables)
  assert all(r.dtype == jnp.float32 for r in rows.values())
  back = plan.join(rows)
  assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(variables)
  for got, want in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(variables)):
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
  # `load` rebuilds the plan from a template of zeros
  assert LocationPlan.from_template(plan.join({k: 0 * v for k, v in rows.items()})) == plan


def test_a_plan_refuses_integer_leaves():
  with pytest.raises(ValueError, match="floating leaves only; params/step is int32"):
    LocationPlan.from_template({"params": {"w": jnp.ones(2), "step": jnp.int32(0)}})


@pytest.fixture(scope="module")
def toy():
  """(generator, stacked adapters (6, ...), conditions (6, 7)) trained at smoke size."""
  config = load_config("loragen_lora", "smoke")
  keys = jax.random.split(jax.random.key(3), 6)
  stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[_adapter(k) for k in keys])
  conditions = np.asarray(jax.random.normal(jax.random.key(4), (6, 7)), np.float32)
  return loragen.train(stacked, config, conditions=conditions), stacked, conditions


GENERATE = jax.jit(loragen.generate, static_argnames="num_models")


def test_train_and_generate_in_memory_at_toy_size(toy):
  generator, stacked, conditions = toy
  wanted = np.repeat(conditions[:2], 2, axis=0)
  models = GENERATE(generator, jax.random.key(5), wanted, num_models=4)
  for got, want in zip(jax.tree_util.tree_leaves(models), jax.tree_util.tree_leaves(stacked)):
    assert got.shape == (4,) + want.shape[1:] and np.isfinite(np.asarray(got)).all()
  again = GENERATE(generator, jax.random.key(5), wanted, num_models=4)
  assert tree_checksum(models) == tree_checksum(again)  # one key, one result


def test_one_condition_per_model(toy):
  generator, _, conditions = toy
  one = lambda c: GENERATE(generator, jax.random.key(5), c, num_models=4)
  mixed = one(conditions[:4])
  alike = one(np.repeat(conditions[1:2], 4, axis=0))
  for m, a in zip(*map(jax.tree_util.tree_leaves, (mixed, alike))):
    np.testing.assert_allclose(m[1], a[1], rtol=1e-4, atol=1e-5)  # model 1 drew condition 1


@pytest.mark.parametrize("conditions, num_models, message", [
    (np.zeros((2, 6), np.float32), 2, r"conditions must be \(num_models, D\) = \(2, 7\), got \(2, 6\)"),
    (np.zeros((3, 7), np.float32), 2, r"conditions must be \(num_models, D\) = \(2, 7\), got \(3, 7\)"),
    (np.zeros(7, np.float32), 1, r"conditions must be \(num_models, D\)"),
    (None, 2, "LoRAGen is conditional"),
    (np.zeros((2, 7), np.float32), 0, "num_models must be an integer >= 1"),
])
def test_generate_refuses_bad_input_in_one_line(toy, conditions, num_models, message):
  with pytest.raises(ValueError, match=message) as found:
    loragen.generate(toy[0], jax.random.key(0), conditions, num_models)
  assert "\n" not in str(found.value)


def test_train_needs_one_condition_per_model(toy):
  _, stacked, conditions = toy
  config = load_config("loragen_lora", "smoke")
  with pytest.raises(ValueError, match="LoRAGen is conditional"):
    loragen.train(stacked, config)
  with pytest.raises(ValueError, match=r"conditions must be \(N, D\) with N = 6 models"):
    loragen.train(stacked, config, conditions=conditions[:5])


def test_save_load_gives_the_same_generator(toy, tmp_path):
  generator, _, conditions = toy
  loragen.save(generator, str(tmp_path / "g"))
  loaded = loragen.load(str(tmp_path / "g"))
  assert loaded.plan == generator.plan
  assert artifact.config_json(loaded.config) == artifact.config_json(generator.config)
  key, wanted = jax.random.key(5), conditions[:4]
  assert (tree_checksum(GENERATE(loaded, key, wanted, num_models=4))
          == tree_checksum(GENERATE(generator, key, wanted, num_models=4)))


def _altered(path):
  import orbax.checkpoint as ocp
  arrays = artifact.load(path).arrays
  arrays["norm"]["cond_scale"] = np.asarray(arrays["norm"]["cond_scale"] * 2)
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(os.path.join(path, artifact.ARRAYS), arrays, force=True)
    checkpointer.wait_until_finished()


@pytest.mark.parametrize("damage, message", [
    (_altered, "does not match the checksum"),
    (lambda path: os.remove(os.path.join(path, artifact.RECORD)), "no generator.json"),
    (lambda path: artifact.save(path, method="rpg", arrays={"w": np.zeros(2)},
                                config=ml_collections.ConfigDict({"a": 1})),
     "an? 'rpg' generator, not 'loragen'"),
])
def test_load_refuses_a_damaged_or_foreign_directory_in_one_line(toy, tmp_path, damage,
                                                                 message):
  path = str(tmp_path / "g")
  loragen.save(toy[0], path)
  damage(path)
  with pytest.raises(CorruptDataError, match=message) as found:
    loragen.load(path)
  assert "\n" not in str(found.value)


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
