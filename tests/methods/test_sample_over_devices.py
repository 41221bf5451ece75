"""The sample stage splits generation over every device of the process (RPG: the tokens of a
model, `token_parallel`; the other methods: the models, `memory.device_mesh`). This process
has 8 simulated devices; each method's shared smoke run sampled on one. The models must be
the same up to float32 rounding: 1e-5 absolute, on parameters of order one.

The same stage in bfloat16 (`sample.compute_dtype`, the mapping's `generate.compute_dtype`)
runs every dense layer of the generator in bfloat16 and gives models of the same structure
and dtypes near the float32 ones."""

import shutil

import jax
import numpy as np
import pytest

from paramgen_jax import pipeline, precision, runfiles
from tests.helpers import load_config, shared_smoke_run

CONFIGS = ["rpg_convnext", "pdiff_digits", "loragen_lora", "d2nwg_digits",
           "mapping_unseen_binary"]
# Relative RMS difference of bfloat16-generated models from the float32 ones: bfloat16
# rounds at 2^-9, errors add up over a network's layers and a sampler's steps (measured at
# smoke size: 0.0002 p-diff to 0.04 mapping).
BFLOAT16_TOLERANCE = 0.1


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_the_sample_stage_on_8_devices_makes_the_models_of_one(smoke_root, tmp_path, name):
  workdir, result = shared_smoke_run(smoke_root, name)
  assert result["returncode"] == 0, result["stderr"]
  assert jax.local_device_count() == 8
  copy = tmp_path / "run"
  shutil.copytree(workdir, copy, ignore=shutil.ignore_patterns("generated"))
  config = load_config(name, "smoke")
  pipeline.method_module(config.method).sample(config, str(copy))
  one, eight = runfiles.load_generated(workdir), runfiles.load_generated(str(copy))
  assert list(one) == list(eight) and one
  for task in one:
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-5),
                           one[task], eight[task])


def relative_rms_difference(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.sqrt(np.mean((a - b) ** 2)) / max(np.sqrt(np.mean(a ** 2)), 1e-12))


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_bfloat16_generation_is_near_float32_with_the_same_structure(smoke_root, tmp_path, name):
  workdir, result = shared_smoke_run(smoke_root, name)
  assert result["returncode"] == 0, result["stderr"]
  copy = tmp_path / "run"
  shutil.copytree(workdir, copy, ignore=shutil.ignore_patterns("generated"))
  config = load_config(name, "smoke")
  config["generate" if config.method == "mapping" else "sample"].compute_dtype = "bfloat16"
  pipeline.method_module(config.method).sample(config, str(copy))
  exact, low = runfiles.load_generated(workdir), runfiles.load_generated(str(copy))
  assert list(exact) == list(low) and exact
  differences = []
  for task in exact:
    assert (jax.tree_util.tree_structure(low[task])
            == jax.tree_util.tree_structure(exact[task])), task
    for a, b in zip(jax.tree_util.tree_leaves(exact[task]), jax.tree_util.tree_leaves(low[task])):
      assert b.dtype == a.dtype and b.shape == a.shape and np.isfinite(b).all(), task
      differences.append(relative_rms_difference(a, b))
  assert 0 < max(differences) < BFLOAT16_TOLERANCE, max(differences)


def test_autocast_runs_dense_layers_in_bfloat16_and_leaves_float32_unchanged():
  import flax.linen as nn
  import jax.numpy as jnp

  class Net(nn.Module):
    @nn.compact
    def __call__(self, x, t):
      h = nn.Dense(8)(x) + jnp.sin(t.astype(jnp.float32))[:, None]  # a float32 embedding
      return nn.Dense(3)(nn.relu(h))

  x, t = jnp.ones((2, 4)), jnp.arange(2)
  params = Net().init(jax.random.key(0), x, t)
  apply = lambda p, x, t: Net().apply(p, x, t)

  def under(dtype):  # what every method's generate does with its networks
    def run(p, x, t):
      with precision.autocast(dtype):
        return apply(precision.cast_floating(p, dtype), x, t)
    return run

  low = under("bfloat16")
  dots = [e for e in jax.make_jaxpr(low)(params, x, t).eqns if e.primitive.name == "dot_general"]
  assert len(dots) == 2 and all(e.outvars[0].aval.dtype == jnp.bfloat16 for e in dots)
  np.testing.assert_allclose(low(params, x, t).astype(jnp.float32), apply(params, x, t),
                             rtol=0.05, atol=0.05)
  assert (str(jax.make_jaxpr(under("float32"))(params, x, t))
          == str(jax.make_jaxpr(apply)(params, x, t)))


def test_generating_in_sets_the_generators_compute_dtype_and_refuses_others():
  from flax import struct
  import ml_collections

  @struct.dataclass
  class Generator:
    params: dict
    config: ml_collections.FrozenConfigDict = struct.field(pytree_node=False)

  diffusion = Generator({}, ml_collections.FrozenConfigDict({"sample": {"steps": 3}}))
  assert precision.generating_in(diffusion, "bfloat16").config.sample.to_dict() == {
      "steps": 3, "compute_dtype": "bfloat16"}
  mapping = Generator({}, ml_collections.FrozenConfigDict({"train": {"steps": 3}}))
  assert precision.generating_in(mapping, "bfloat16").config.generate.compute_dtype == "bfloat16"
  assert precision.section_dtype(mapping.config.get("generate")) == "float32"
  with pytest.raises(ValueError, match="compute dtype"):
    precision.generating_in(diffusion, "float16")
