"""LoRA: a Dense layer with a frozen base kernel and a trainable low-rank update.

    y = x W + b + (alpha / rank) · x A B,   A (in, rank) ~ N(0, 1/in), B (rank, out) = 0

With rank 0 it is a plain Dense. B starts at zero, so a fresh adapter leaves the base
model's outputs unchanged. `lora_mask` marks the adapter leaves (for optax.masked /
multi_transform), and `ParamLayout.from_template(..., keep_constant=BASE_PATTERNS)` makes a
layout whose generated vector holds only the adapters.

`AdapterTarget` is a target model whose *variables are only its trainable part* (the
adapters and a fresh task head) with the frozen base weights bound in. Zoo collection,
storage, evaluation and every generator then see just the adapters, exactly as they see
whole small networks:

    target = adapter_target(make_target("vit_tiny", 2, lora_rank=4), base_variables)
    adapters = target.init(key, x)           # {'params': {... lora_a, lora_b, head ...}}
    logits = target.apply(adapters, x)       # base + adapters
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Sequence

import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp

from paramgen_jax.params.layout import path_to_str

LORA_NAMES = ("lora_a", "lora_b")
# Regexes over leaf paths of everything that is *not* an adapter (for ParamLayout).
BASE_PATTERNS = (r"^(?!.*/lora_[ab]$).*$",)


class LoRADense(nn.Module):
  features: int
  rank: int = 0
  alpha: float = 1.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    y = nn.Dense(self.features, name="base")(x)
    if self.rank <= 0:
      return y
    a = self.param("lora_a", nn.initializers.normal(1.0 / jnp.sqrt(x.shape[-1])),
                   (x.shape[-1], self.rank))
    b = self.param("lora_b", nn.initializers.zeros, (self.rank, self.features))
    return y + (self.alpha / self.rank) * (x @ a) @ b


def lora_mask(params: Any) -> Any:
  """Same structure as `params`: True on LoRA leaves, False on base weights."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: path_to_str(path).rsplit("/", 1)[-1] in LORA_NAMES, params)


def lora_delta(params: Any, alpha: float, rank: int) -> dict[str, jax.Array]:
  """ΔW = (alpha / rank) A B of every adapted layer: {layer path: (in, out)}."""
  deltas = {}
  flat = {path_to_str(p): v for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}
  for path, a in flat.items():
    if path.endswith("/lora_a"):
      layer = path[:-len("/lora_a")]
      deltas[layer] = (alpha / rank) * a @ flat[layer + "/lora_b"]
  return deltas


# Trainable leaves of a LoRA-adapted ViTTiny: the adapters and the classification head
# (a new task has its own label set, so the head is trained with the adapters, as PEFT's
# `modules_to_save` does for sequence classification).
ADAPTER_PATTERNS = (r"/lora_[ab]$", r"^params/Dense_0/")


def _flat(variables: Any) -> dict[str, Any]:
  return traverse_util.flatten_dict(dict(variables), sep="/")


def _unflat(flat: dict[str, Any]) -> dict:
  return traverse_util.unflatten_dict(flat, sep="/")


def select_variables(variables: Any, patterns: Sequence[str], keep: bool = True) -> dict:
  """The leaves of `variables` whose 'collection/module/.../name' path matches one of the
  regexes (`keep=True`) or matches none of them (`keep=False`), as a nested dict."""
  hit = lambda path: any(re.search(p, path) for p in patterns)
  return _unflat({k: v for k, v in _flat(variables).items() if hit(k) == keep})


def merge_variables(a: Any, b: Any) -> dict:
  """Union of two variable trees with disjoint leaves."""
  flat_a, flat_b = _flat(a), _flat(b)
  overlap = sorted(set(flat_a) & set(flat_b))
  if overlap:
    raise ValueError(f"variable trees overlap at {overlap[:3]}")
  return _unflat({**flat_a, **flat_b})


@dataclasses.dataclass(frozen=True, eq=False)
class AdapterTarget:
  """A target (same interface as `models.Target`) whose variables are the trainable leaves
  only; `frozen` holds every other leaf (the base model without its head)."""
  name: str
  module: nn.Module
  frozen: dict
  trainable: tuple[str, ...] = ADAPTER_PATTERNS

  def init(self, key: jax.Array, x: jax.Array) -> dict:
    return select_variables(self.module.init(key, x, train=False), self.trainable)

  def apply(self, variables: Any, x: jax.Array) -> jax.Array:
    return self.module.apply(merge_variables(self.frozen, variables), x, train=False)

  def apply_train(self, params: Any, model_state: Any, x: jax.Array,
                  rng: jax.Array) -> tuple[jax.Array, Any]:
    del rng, model_state  # no dropout; adapted targets keep no running statistics
    return self.apply({"params": params}, x), {}


def adapter_target(target: Any, base_variables: Any, x: jax.Array,
                   trainable: Sequence[str] = ADAPTER_PATTERNS) -> AdapterTarget:
  """Binds `base_variables` (a trained model of the same architecture, any head width, rank 0
  or not) as the frozen part of `target` (a `models.Target` with LoRA).

  Raises ValueError when a frozen leaf of `target` is missing from the base or has another
  shape (a different architecture).
  """
  shapes = jax.eval_shape(lambda k: target.module.init(k, x, train=False), jax.random.key(0))
  needed = _flat(select_variables(shapes, trainable, keep=False))
  given = _flat(select_variables(base_variables, trainable, keep=False))
  for path, leaf in needed.items():
    if path not in given:
      raise ValueError(f"base variables lack {path!r}: not the architecture of {target.name}")
    if tuple(given[path].shape) != tuple(leaf.shape):
      raise ValueError(f"base variable {path!r} has shape {tuple(given[path].shape)}, the "
                       f"adapted model needs {tuple(leaf.shape)}")
  frozen = _unflat({path: jnp.asarray(given[path]) for path in needed})
  return AdapterTarget(target.name + "_lora", target.module, frozen, tuple(trainable))
