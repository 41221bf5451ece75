"""LoRA locations: an adapter's variables <-> one flat vector per (module type, layer).

A LoRA location is a layer's adapted projection (e.g. 'EncoderBlock_2/query'): its module
type is the projection's name ('query'), its layer the path above it. Its vector is
[A.ravel(), B.ravel()] with A (d_in, r) and B (r, d_out). Every other leaf group (the task
head 'Dense_0': kernel and bias; any model's Dense, Embed or BatchNorm leaves, statistics
included) is a 'dense' location of its own module type. Rows are float32 whatever a leaf's
floating dtype; `join` gives every leaf its own dtype back and keeps empty sub-dicts.

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
  dtypes: each leaf's dtype name (in the order of `shapes`).
  """
  name: str
  kind: str
  layers: tuple[str, ...]
  paths: tuple[tuple[str, ...], ...]
  shapes: tuple[tuple[int, ...], ...]
  dtypes: tuple[str, ...]

  @property
  def size(self) -> int:
    return int(sum(np.prod(s) for s in self.shapes))


@dataclasses.dataclass(frozen=True)
class LocationPlan:
  """modules: module-major; empty: the paths of the tree's empty sub-dicts (kept by `join`)."""
  modules: tuple[Module, ...]
  empty: tuple[str, ...] = ()

  @classmethod
  def from_template(cls, variables: Any) -> "LocationPlan":
    """The plan of a model's variables (an adapter, or any tree of floating leaves).

    Raises ValueError when a module's layers differ in shape, or a leaf is not floating."""
    flat = _flatten(variables)
    empty = tuple(sorted(k for k, v in flat.items() if v is traverse_util.empty_node))
    shapes = {k: tuple(v.shape) for k, v in flat.items() if k not in empty}
    dtypes = {k: np.dtype(flat[k].dtype) for k in shapes}
    fixed = sorted(k for k, d in dtypes.items() if not jnp.issubdtype(d, jnp.floating))
    if fixed:
      raise ValueError(f"LoRAGen generates floating leaves only; {fixed[0]} is "
                       f"{dtypes[fixed[0]]}")
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
      kinds = {((shapes[a], shapes[b]), (dtypes[a].name, dtypes[b].name))
               for _, (a, b) in entries}
      if len(kinds) != 1:
        raise ValueError(f"LoRA module {name!r} has layers of different shapes or dtypes "
                         f"{sorted(kinds)}")
      modules.append(Module(name, "lora", tuple(e[0] for e in entries),
                            tuple(e[1] for e in entries), *kinds.pop()))
    for name, paths in dense.items():
      modules.append(Module(name, "dense", ("",), (tuple(paths),),
                            tuple(shapes[p] for p in paths), tuple(dtypes[p].name for p in paths)))
    if not modules:
      raise ValueError("the adapter has no trainable leaves")
    return cls(tuple(modules), empty)

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
    """Adapter variables (one model) -> {module: (L_m, size_m)} float32. Traceable."""
    flat = _flatten(variables)
    out = {}
    for m in self.modules:
      rows = [jnp.concatenate([jnp.ravel(flat[p]).astype(jnp.float32) for p in paths])
              for paths in m.paths]
      out[m.name] = jnp.stack(rows)
    return out

  def join(self, per_module: dict[str, jnp.ndarray]) -> dict:
    """{module: (L_m, size_m)} -> adapter variables (one model), each leaf in its dtype.
    Traceable."""
    flat = {path: traverse_util.empty_node for path in self.empty}
    for m in self.modules:
      for row, paths in zip(per_module[m.name], m.paths):
        start = 0
        for path, shape, dtype in zip(paths, m.shapes, m.dtypes):
          size = int(np.prod(shape))
          flat[path] = row[start:start + size].reshape(shape).astype(dtype)
          start += size
    return traverse_util.unflatten_dict(flat, sep="/")


def factors(module: Module, rows: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """A LoRA module's rows (..., size) -> A (..., d_in, r), B (..., r, d_out)."""
  (d_in, r), (_, d_out) = module.shapes
  lead = rows.shape[:-1]
  return (rows[..., :d_in * r].reshape(lead + (d_in, r)),
          rows[..., d_in * r:].reshape(lead + (r, d_out)))


def _flatten(variables: Any) -> dict:
  """{'a/b/leaf': leaf}, empty sub-dicts as `traverse_util.empty_node`."""
  return traverse_util.flatten_dict(dict(variables), sep="/", keep_empty_nodes=True)


def _natural(text: str) -> tuple:
  """Sort key that orders 'Block_10' after 'Block_2'."""
  return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))
