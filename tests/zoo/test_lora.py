"""LoRA adapter targets: only adapters and head are variables; the base is bound in."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax import params as P
from paramgen_jax.zoo import lora
from paramgen_jax.zoo.models import make_target

X = jax.random.normal(jax.random.key(0), (3, 8, 8, 1))
SMALL = dict(dim=16, depth=2, heads=2, mlp_dim=32)


def _paths(tree):
  return sorted(P.path_to_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0])


@pytest.mark.parametrize("rank", [1, 8])
def test_lora_targets_limit_the_adapted_layers(rank):
  target = make_target("vit_tiny", 2, lora_rank=rank, lora_targets=("query", "value"), **SMALL)
  variables = target.init(jax.random.key(1), X)
  adapters = [p for p in _paths(variables) if p.endswith(("lora_a", "lora_b"))]
  assert len(adapters) == 2 * 2 * 2  # A and B, query and value, 2 blocks
  assert all("/query/" in p or "/value/" in p for p in adapters)
  a = variables["params"]["EncoderBlock_0"]["query"]["lora_a"]
  assert a.shape == (16, rank)


def test_adapter_target_holds_only_adapters_and_head_and_matches_the_full_model():
  base = make_target("vit_tiny", 10, **SMALL)  # rank 0, 10-way head: a trained base model
  base_vars = base.init(jax.random.key(2), X)
  adapted = make_target("vit_tiny", 2, lora_rank=2, lora_alpha=4.0, **SMALL)
  target = lora.adapter_target(adapted, base_vars, X)
  adapters = target.init(jax.random.key(3), X)
  paths = _paths(adapters)
  assert all(p.endswith(("lora_a", "lora_b")) or p.startswith("params/Dense_0/") for p in paths)
  assert "params/Dense_0/kernel" in paths and len(paths) == 2 * 6 * 2 + 2
  frozen = lora.select_variables(base_vars, lora.ADAPTER_PATTERNS, keep=False)
  # B = 0 at init: the adapted encoder is exactly the base encoder.
  feats = adapted.module.apply(lora.merge_variables(frozen, adapters), X, features=True)
  np.testing.assert_allclose(feats, base.module.apply(base_vars, X, features=True), atol=1e-6)
  # Perturbed adapters matter, and the target computes the hand-merged full model.
  adapters = jax.tree_util.tree_map(lambda a: a + 0.1, adapters)
  full = lora.merge_variables(frozen, adapters)
  np.testing.assert_allclose(target.apply(adapters, X), adapted.module.apply(full, X),
                             rtol=1e-6, atol=1e-6)
  assert not np.allclose(adapted.module.apply(full, X, features=True), feats, atol=1e-3)
  logits, state = target.apply_train(adapters["params"], {}, X, jax.random.key(0))
  assert state == {} and logits.shape == (3, 2)


def test_adapter_target_rejects_another_architecture():
  base_vars = make_target("vit_tiny", 10, **dict(SMALL, dim=32)).init(jax.random.key(0), X)
  adapted = make_target("vit_tiny", 2, lora_rank=2, **SMALL)
  with pytest.raises(ValueError, match="has shape"):
    lora.adapter_target(adapted, base_vars, X)


def test_merge_rejects_overlap():
  with pytest.raises(ValueError, match="overlap"):
    lora.merge_variables({"params": {"a": jnp.zeros(1)}}, {"params": {"a": jnp.ones(1)}})
