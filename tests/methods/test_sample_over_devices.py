"""The sample stage splits generation over every device of the process (RPG: the tokens of a
model, `token_parallel`; the other methods: the models, `memory.device_mesh`). This process
has 8 simulated devices; each method's shared smoke run sampled on one. The models must be
the same up to float32 rounding: 1e-5 absolute, on parameters of order one."""

import shutil

import jax
import numpy as np
import pytest

from paramgen_jax import pipeline, runfiles
from tests.helpers import load_config, shared_smoke_run

CONFIGS = ["rpg_convnext", "pdiff_digits", "loragen_lora", "d2nwg_digits",
           "mapping_unseen_binary"]


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
