"""LoRA locations: an adapter's variables <-> one flat vector per (module type, layer).

A LoRA location is a layer's adapted projection (e.g. 'EncoderBlock_2/query'): its module
type is the projection's name ('query'), its layer the path above it. Its vector is
[A.ravel(), B.ravel()] with A (d_in, r) and B (r, d_out). Every other trainable leaf group
(the task head 'Dense_0': kernel and bias) is a 'dense' location of its own module type.

    plan = LocationPlan.from_template(variables)       # any one adapter (arrays or shapes)
    per_module = plan.split(variables)                  # {module: (L_m, size_m)}
    variables = plan.join(per_module)                   # exact inverse
    plan.module_ids, plan.layer_ids                     # (N,) per location, module-major
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import traverse_util

LORA_A, LORA_B = "lora_a", "lora_b"


@dataclasses.dataclass(frozen=True)
class Module:
  """One module type: its locations' leaf paths and shapes.

  kind 'lora': paths[l] = (A path, B path), shapes = ((d_in, r), (r, d_out)).
  kind 'dense': one location; paths[0] = its leaf paths, shapes = their shapes.
  """
  name: str
  kind: str
  layers: tuple[str, ...]
  paths: tuple[tuple[str, ...], ...]
  shapes: tuple[tuple[int, ...], ...]

  @property
  def size(self) -> int:
    return int(sum(np.prod(s) for s in self.shapes))


@dataclasses.dataclass(frozen=True)
class LocationPlan:
  modules: tuple[Module, ...]

  @classmethod
  def from_template(cls, variables: Any) -> "LocationPlan":
    """The plan of an adapter tree; ValueError when a module's layers differ in shape."""
    flat = traverse_util.flatten_dict(dict(variables), sep="/")
    shapes = {k: tuple(v.shape) for k, v in flat.items()}
    lora, dense = {}, {}
    for path in sorted(shapes):
      parent, leaf = path.rsplit("/", 1)
      if leaf == LORA_A:
        layer, module = parent.rsplit("/", 1)
        lora.setdefault(module, []).append((layer, (path, parent + "/" + LORA_B)))
      elif leaf != LORA_B:
        dense.setdefault(parent.rsplit("/", 1)[-1], []).append(path)
    modules = []
    for name, entries in lora.items():
      entries.sort(key=lambda e: _natural(e[0]))
      kinds = {(shapes[a], shapes[b]) for _, (a, b) in entries}
      if len(kinds) != 1:
        raise ValueError(f"LoRA module {name!r} has layers of different shapes {sorted(kinds)}")
      modules.append(Module(name, "lora", tuple(e[0] for e in entries),
                            tuple(e[1] for e in entries), kinds.pop()))
    for name, paths in dense.items():
      modules.append(Module(name, "dense", ("",), (tuple(paths),),
                            tuple(shapes[p] for p in paths)))
    if not modules:
      raise ValueError("the adapter has no trainable leaves")
    return cls(tuple(modules))

  @property
  def names(self) -> tuple[str, ...]:
    return tuple(m.name for m in self.modules)

  @property
  def num_locations(self) -> int:
    return sum(len(m.layers) for m in self.modules)

  @property
  def num_layers(self) -> int:
    return max(len(m.layers) for m in self.modules)

  @property
  def module_ids(self) -> np.ndarray:
    return np.concatenate([np.full(len(m.layers), i, np.int32)
                           for i, m in enumerate(self.modules)])

  @property
  def layer_ids(self) -> np.ndarray:
    return np.concatenate([np.arange(len(m.layers), dtype=np.int32) for m in self.modules])

  def split(self, variables: Any) -> dict[str, jnp.ndarray]:
    """Adapter variables (one model) -> {module: (L_m, size_m)}. Traceable."""
    flat = traverse_util.flatten_dict(dict(variables), sep="/")
    out = {}
    for m in self.modules:
      rows = [jnp.concatenate([jnp.ravel(flat[p]) for p in paths]) for paths in m.paths]
      out[m.name] = jnp.stack(rows)
    return out

  def join(self, per_module: dict[str, jnp.ndarray]) -> dict:
    """{module: (L_m, size_m)} -> adapter variables (one model). Traceable."""
    flat = {}
    for m in self.modules:
      for row, paths in zip(per_module[m.name], m.paths):
        start = 0
        for path, shape in zip(paths, m.shapes):
          size = int(np.prod(shape))
          flat[path] = row[start:start + size].reshape(shape)
          start += size
    return traverse_util.unflatten_dict(flat, sep="/")


def factors(module: Module, rows: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """A LoRA module's rows (..., size) -> A (..., d_in, r), B (..., r, d_out)."""
  (d_in, r), (_, d_out) = module.shapes
  lead = rows.shape[:-1]
  return (rows[..., :d_in * r].reshape(lead + (d_in, r)),
          rows[..., d_in * r:].reshape(lead + (r, d_out)))


def _natural(text: str) -> tuple:
  """Sort key that orders 'Block_10' after 'Block_2'."""
  return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))
