"""Top-K routing, the load-balancing loss and the module-aware ΔW decoder."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.nn.moe import MoEDeltaDecoder, MoELayer, load_balance_loss, top_k_gates


def test_top_k_gates_keep_k_experts_and_renormalize_with_temperature():
  logits = jnp.asarray([[1.0, 3.0, 2.0, 0.0]])
  g1 = top_k_gates(logits, 1, 1.5)
  np.testing.assert_allclose(g1, [[0, 1, 0, 0]])
  g2 = top_k_gates(logits, 2, 2.0)
  want = np.exp(np.asarray([3.0, 2.0]) / 2.0)
  want = want / want.sum()
  np.testing.assert_allclose(g2, [[0, want[0], want[1], 0]], rtol=1e-6)


def test_load_balance_loss_known_answers():
  uniform = jnp.full((8, 4), 0.25)
  assert float(load_balance_loss(uniform, uniform)) == 0.0
  # Everything on expert 0 with probability 1: E·1·1 - 1 = 3.
  collapsed = jnp.zeros((8, 4)).at[:, 0].set(1.0)
  assert float(load_balance_loss(collapsed, collapsed)) == pytest.approx(3.0)
  # Rows outside `weights` do not count.
  mixed = jnp.concatenate([collapsed[:4], uniform[:4]])
  weights = jnp.asarray([False] * 4 + [True] * 4)
  assert float(load_balance_loss(mixed, mixed, weights)) == 0.0
  # f is detached: the gradient flows through p only.
  grad_f = jax.grad(lambda f: load_balance_loss(collapsed, f))(collapsed)
  assert float(jnp.abs(grad_f).sum()) == 0.0


def test_moe_layer_output_is_the_gated_expert():
  layer = MoELayer(num_experts=3, top_k=1, hidden=8, features=5)
  h = jax.random.normal(jax.random.key(0), (6, 4))
  params = layer.init(jax.random.key(1), h)
  y, aux = layer.apply(params, h, 1.2)
  logits = h @ params["params"]["router"]["kernel"]
  chosen = np.argmax(np.asarray(logits), axis=1)
  e = params["params"]["experts"]
  for i in range(6):
    hidden = jax.nn.silu(h[i] @ e["hidden"]["kernel"][chosen[i]] + e["hidden"]["bias"][chosen[i]])
    want = hidden @ e["out"]["kernel"][chosen[i]] + e["out"]["bias"][chosen[i]]
    np.testing.assert_allclose(y[i], want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(aux["load"], np.bincount(chosen, minlength=3) / 6, rtol=1e-6)
  with pytest.raises(ValueError, match="top_k"):
    MoELayer(num_experts=2, top_k=3, hidden=4, features=2).init(jax.random.key(0), h)


@pytest.mark.parametrize("shared_pool, pools", [(False, 2), (True, 1)])
def test_delta_decoder_shapes_pools_and_heads_shared_across_layers(shared_pool, pools):
  decoder = MoEDeltaDecoder(("query", "head"), num_layers=3, out_sizes=(12, 5), num_experts=4,
                            top_k=2, hidden=8, expert_features=6, shared_pool=shared_pool)
  module_ids = jnp.asarray([0, 0, 0, 1])
  layer_ids = jnp.asarray([0, 1, 2, 0])
  z = jax.random.normal(jax.random.key(0), (4, 7))
  params = decoder.init(jax.random.key(1), z, module_ids, layer_ids, 1.5)
  out, aux = decoder.apply(params, z, module_ids, layer_ids, 1.5)
  assert out["query"].shape == (4, 12) and out["head"].shape == (4, 5)
  assert aux["load"].shape == (pools, 4) and np.isfinite(float(aux["balance"]))
  names = set(params["params"])
  assert {"head_query", "head_head", "module_embedding", "layer_embedding"} <= names
  assert sum(n.startswith("pool_") for n in names) == pools
  # Two locations with the same latent, module and layer decode identically (no hidden state).
  again, _ = decoder.apply(params, z[:1].repeat(2, 0), module_ids[:2] * 0, layer_ids[:2] * 0, 1.5)
  np.testing.assert_allclose(again["query"][0], again["query"][1])
