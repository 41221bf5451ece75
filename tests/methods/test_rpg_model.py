"""RPG generator: shapes, gradients reach the recurrent model, inference modes agree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax import diffusion
from paramgen_jax.methods.rpg.model import RPGGenerator, rpg_loss, sample_tokens

SCHEDULE = diffusion.get_schedule("linear", 50, beta_start=1e-3, beta_end=0.05)
LAYER = jnp.array([0, 0, 1, 2, 2])
TOKEN = jnp.array([0, 1, 0, 0, 1])


def make(backbone="mamba", **kw):
  options = {"mamba": dict(num_layers=1, d_state=4), "lstm": dict(num_layers=1),
             "transformer": dict(num_layers=1, heads=2), "gated_mlp": dict(num_layers=1)}
  model = RPGGenerator(token_size=8, d_model=16, prototype_dim=12, backbone=backbone,
                       backbone_options=options[backbone], num_permutations=3,
                       condition_dim=4, unet_encoder=(4, 8), unet_decoder=(4,), **kw)
  perm = jnp.array([0, 2])
  cond = jnp.ones((2, 4))
  params = model.init(jax.random.key(0), LAYER, TOKEN, perm, cond, jnp.zeros((2, 8)),
                      jnp.zeros((2,), jnp.int32))
  return model, params, perm, cond


@pytest.mark.parametrize("backbone", ["mamba", "lstm", "transformer", "gated_mlp"])
def test_prototypes_and_loss_gradients(backbone):
  model, params, perm, cond = make(backbone)
  proto = model.apply(params, LAYER, TOKEN, perm, cond, method=RPGGenerator.prototypes)
  assert proto.shape == (2, 5, 12)
  mask = jnp.ones((5, 8), bool).at[-1, 5:].set(False)
  batch = {"tokens": jax.random.normal(jax.random.key(1), (2, 5, 8)), "mask": mask,
           "layer_index": LAYER, "token_in_layer": TOKEN, "permutation": perm, "condition": cond}
  loss_fn = lambda p, b: rpg_loss(model, p, b, jax.random.key(2), SCHEDULE, diffusion_batch=6)[0]
  loss, grads = jax.jit(jax.value_and_grad(loss_fn))(params, batch)
  assert np.isfinite(float(loss))
  norms = {k: float(jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(v))))
           for k, v in grads["params"].items()}
  assert norms["sequence"] > 0 and norms["permutation_states"] > 0  # through the prototypes
  assert norms["condition_in"] > 0 and norms["denoiser"] > 0
  padded = dict(batch, tokens=batch["tokens"].at[:, -1, 5:].set(1e3))
  np.testing.assert_allclose(jax.jit(loss_fn)(params, padded), loss, rtol=1e-6)  # padding: no loss


def test_prototype_hidden_width():
  model, params, _, _ = make(prototype_hidden=40)
  assert params["params"]["to_prototype_hidden"]["kernel"].shape == (16, 40)
  assert params["params"]["to_prototype"]["kernel"].shape == (40, 12)


def test_inference_modes_give_the_same_parameters():
  model, params, perm, cond = make()
  proto = model.apply(params, LAYER, TOKEN, perm, cond, method=RPGGenerator.prototypes)
  proto = proto.reshape(10, -1)
  run = lambda mode, chunk=3: sample_tokens(model, params, proto, jax.random.key(5), SCHEDULE,
                                            mode=mode, chunk=chunk, sampler="ddim", steps=5,
                                            eta=0.5)
  parallel = run("parallel")
  assert parallel.shape == (10, 8)
  np.testing.assert_allclose(run("sequential"), parallel, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(run("partial"), parallel, rtol=1e-5, atol=1e-5)
  assert float(jnp.abs(sample_tokens(model, params, proto, jax.random.key(6), SCHEDULE,
                                     mode="parallel", sampler="ddim", steps=5, eta=0.5)
                       - parallel).max()) > 1e-3
  with pytest.raises(ValueError, match="inference mode"):
    run("greedy")


def test_checkpoint_states_count_within_each_condition():
  from paramgen_jax.methods.rpg.core import permutation_ids
  conditions = np.eye(3, dtype=np.float32)[[0, 1, 0, 2, 1, 0]]
  # A state and a condition name one checkpoint; every condition meets states 0, 1, ...
  assert permutation_ids("checkpoint", 6, conditions=conditions).tolist() == [0, 0, 1, 0, 1, 2]
  assert permutation_ids("checkpoint", 3).tolist() == [0, 1, 2]
  assert permutation_ids("seed", 3, seeds=[5, 3, 5]).tolist() == [1, 0, 1]
  assert permutation_ids("none", 3) is None
  with pytest.raises(ValueError, match="seed"):
    permutation_ids("seed", 3)


def test_ridge_residual_generator_starts_from_the_regression_and_saves_it(tmp_path):
  # Toy zoo: 3 models per task, each base + bits · direction + noise of 1e-3. With the
  # regression, 5 training steps give models within the noise scale of an unseen task's
  # weights; the tokens only carry the residuals.
  from paramgen_jax.methods import rpg
  rng = np.random.default_rng(0)
  bits = np.repeat(np.asarray([[int(b) for b in f"{i:03b}"] for i in range(8)], np.float32),
                   3, axis=0)
  base = {"a": rng.normal(size=(4, 6)), "b": rng.normal(size=(6,))}
  direction = {k: rng.normal(size=(3,) + v.shape) for k, v in base.items()}
  zoo = {k: np.asarray(base[k][None] + np.tensordot(bits, direction[k], 1)
                       + 1e-3 * rng.normal(size=(24,) + base[k].shape), np.float32)
         for k in base}
  config = rpg.small_config()
  config.generator.update(condition="bits", permutation="none", residual="ridge",
                          ridge_lambda=1e-6)
  config.train.update(steps=5, warmup_steps=1, log_every=5, checkpoint_every=5)
  config.sample.steps = 5
  seen = np.arange(21)  # the last task (bits 111) is unseen
  generator = rpg.train({k: v[seen] for k, v in zoo.items()}, config, conditions=bits[seen])
  assert generator.ridge.shape == (4, 30)
  unseen = bits[21:23]
  made = jax.jit(rpg.generate, static_argnums=3)(generator, jax.random.key(1), unseen, 2)
  truth = {k: base[k] + np.tensordot(unseen[0], direction[k], 1) for k in base}
  for k in base:
    assert np.abs(np.asarray(made[k]) - truth[k][None]).max() < 0.05, k
  rpg.save(generator, str(tmp_path / "g"))
  loaded = rpg.load(str(tmp_path / "g"))
  np.testing.assert_array_equal(loaded.ridge, generator.ridge)
  assert jax.tree_util.tree_structure(loaded.params) == jax.tree_util.tree_structure(
      generator.params)  # the regression is not left among the network's variables
  config.generator.update(condition="none", residual="ridge")
  with pytest.raises(ValueError, match="'ridge' needs conditions"):
    rpg.train(zoo, config)
