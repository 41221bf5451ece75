"""Target models: pinned sizes, pure apply, the fast depthwise conv, LoRA adapters."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax import params as P
from paramgen_jax.zoo import lora
from paramgen_jax.zoo.models import MODELS, depthwise_conv, make_target, split_variables

# Parameter counts (the 'params' collection) of each target with its defaults, 10 classes.
PARAM_COUNTS = {"mlp": 9610, "cnn": 9978, "resnet_mini": 77754, "convnext_mini": 102538,
                "vit_tiny": 136138}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_targets_init_apply_and_pinned_sizes(name):
  x = jnp.linspace(0, 1, 2 * 64).reshape(2, 8, 8, 1)
  target = make_target(name, 10)
  variables = target.init(jax.random.key(0), x)
  params, state = split_variables(variables)
  assert sum(np.size(a) for a in jax.tree_util.tree_leaves(params)) == PARAM_COUNTS[name]
  logits = target.apply(variables, x)
  assert logits.shape == (2, 10) and np.all(np.isfinite(logits))
  train_logits, new_state = target.apply_train(params, state, x, jax.random.key(1))
  assert train_logits.shape == (2, 10)
  assert set(new_state) == set(state)  # BatchNorm statistics come back updated, or nothing


def test_all_targets_are_tested():
  assert set(PARAM_COUNTS) == set(MODELS)


def test_depthwise_conv_matches_grouped_convolution():
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 6))
  conv = nn.Conv(6, (7, 7), feature_group_count=6, use_bias=False)
  variables = conv.init(jax.random.key(1), x)
  expected = conv.apply(variables, x)
  np.testing.assert_allclose(depthwise_conv(x, variables["params"]["kernel"]), expected,
                             rtol=1e-5, atol=1e-5)


def test_unknown_target():
  with pytest.raises(ValueError, match="unknown target model"):
    make_target("vgg", 10)


def test_lora_starts_at_the_base_model_and_isolates_adapters():
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 1))
  base = make_target("vit_tiny", 10, depth=1)
  adapted = make_target("vit_tiny", 10, depth=1, lora_rank=4, lora_alpha=8.0)
  variables = adapted.init(jax.random.key(1), x)
  base_vars = base.init(jax.random.key(1), x)
  mask = lora.lora_mask(variables["params"])
  flat = {P.path_to_str(p): v for p, v in jax.tree_util.tree_flatten_with_path(mask)[0]}
  adapters = sorted(k for k, v in flat.items() if v)
  assert len(adapters) == 2 * 6  # A and B on query, key, value, out, mlp_in, mlp_out
  without = jax.tree_util.tree_map(lambda m, v: v, mask, variables["params"])
  # B = 0 at init: the adapted model computes exactly what its base weights compute.
  stripped = _strip_lora(variables["params"])
  assert jax.tree_util.tree_structure(stripped) == jax.tree_util.tree_structure(
      base_vars["params"])
  np.testing.assert_allclose(adapted.apply(variables, x),
                             base.apply({"params": stripped}, x), rtol=1e-6, atol=1e-6)
  layout = P.ParamLayout.from_template(without, keep_constant=lora.BASE_PATTERNS)
  assert all(s.path.endswith(("lora_a", "lora_b")) for s in layout.generated_leaves)
  assert layout.num_params == sum(np.size(v) for k, v in _flat(variables["params"]).items()
                                  if k.endswith(("lora_a", "lora_b")))
  deltas = lora.lora_delta(variables["params"], alpha=8.0, rank=4)
  assert len(deltas) == 6 and all(float(jnp.abs(d).max()) == 0.0 for d in deltas.values())


def _flat(tree):
  return {P.path_to_str(p): v for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _strip_lora(tree):
  if isinstance(tree, dict):
    return {k: _strip_lora(v) for k, v in tree.items() if k not in lora.LORA_NAMES}
  return tree
