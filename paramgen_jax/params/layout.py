"""Layouts of parameter pytrees: which leaves are generated, where they live in one vector.

A `ParamLayout` is computed once, in NumPy, from a template pytree (one checkpoint,
or the `jax.eval_shape` of an init). It records every leaf's path, shape and dtype,
whether the leaf is *generated* (floating point and not excluded by policy) or kept
*constant* (integer counters such as BatchNorm's step, PRNG keys, anything matched by
`keep_constant`), and groups the generated leaves into layers.

The transforms are pure and jittable; the layout itself is static metadata closed over
by `jax.jit`:

    layout = ParamLayout.from_template(params)
    vec = layout.to_vector(params)          # (num_params,)
    params_again = layout.from_vector(vec)  # bit-identical leaves

Constant leaves are taken from the template on the way back, as the official RPG code
re-inserts never-generated entries from its first checkpoint.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, Literal, Sequence

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any

# BatchNorm running variances are positive and spread over decades: RPG log-transforms them.
DEFAULT_LOG_TRANSFORM = (r"(^|/)batch_stats/.*var$",)


def path_to_str(path: Sequence[Any]) -> str:
  """'/'-joined names of a `jax.tree_util` key path, e.g. 'params/Dense_0/kernel'."""
  parts = []
  for key in path:
    if isinstance(key, jax.tree_util.DictKey):
      parts.append(str(key.key))
    elif isinstance(key, jax.tree_util.GetAttrKey):
      parts.append(key.name)
    elif isinstance(key, jax.tree_util.SequenceKey):
      parts.append(str(key.idx))
    elif isinstance(key, jax.tree_util.FlattenedIndexKey):
      parts.append(str(key.key))
    else:
      parts.append(str(key))
  return "/".join(parts)


@dataclasses.dataclass(frozen=True)
class LeafSpec:
  """One leaf of the template.

  Attributes:
    path: '/'-joined key path.
    shape: the leaf's shape.
    dtype: the leaf's dtype.
    generated: True if the leaf lives in the parameter vector.
    group: index of the leaf's layer in `ParamLayout.groups` (-1 for constants).
    offset: start of the leaf in the parameter vector (generated leaves only).
    log_transform: True for variance-like leaves that normalization log-transforms.
  """
  path: str
  shape: tuple[int, ...]
  dtype: np.dtype
  generated: bool
  group: int
  offset: int
  log_transform: bool

  @property
  def size(self) -> int:
    return int(np.prod(self.shape, dtype=np.int64))


def _is_generated_dtype(dtype: np.dtype) -> bool:
  return jnp.issubdtype(dtype, jnp.floating)


def _matches(path: str, patterns: Iterable[str]) -> bool:
  return any(re.search(p, path) for p in patterns)


class ParamLayout:
  """Static description of a parameter pytree (see module docstring).

  Attributes:
    treedef: the template's tree structure.
    leaves: a `LeafSpec` per leaf, in `jax.tree_util` order.
    groups: the layer names; generated leaves point into this tuple.
    num_params: length of the parameter vector.
    dtype: dtype of the parameter vector (the promotion of the generated dtypes).
  """

  def __init__(self, treedef, leaves: Sequence[LeafSpec], groups: Sequence[str],
               constants: Sequence[np.ndarray | None]):
    self.treedef = treedef
    self.leaves = tuple(leaves)
    self.groups = tuple(groups)
    self._constants = tuple(constants)
    generated = [s for s in self.leaves if s.generated]
    self.num_params = int(sum(s.size for s in generated))
    self.dtype = (jnp.result_type(*[s.dtype for s in generated])
                  if generated else jnp.dtype(jnp.float32))
    # Per element of the vector: its layer and whether it is log-transformed.
    self.element_group = np.concatenate(
        [np.full(s.size, s.group, np.int32) for s in generated]
        or [np.zeros(0, np.int32)])
    self.element_log = np.concatenate(
        [np.full(s.size, s.log_transform, bool) for s in generated]
        or [np.zeros(0, bool)])
    self.group_sizes = np.bincount(self.element_group, minlength=len(self.groups))
    self.group_log = np.bincount(self.element_group[self.element_log],
                                 minlength=len(self.groups)) > 0

  @classmethod
  def from_template(
      cls,
      template: PyTree,
      *,
      keep_constant: Sequence[str] = (),
      log_transform: Sequence[str] = DEFAULT_LOG_TRANSFORM,
      group_by: Literal["leaf", "module"] = "leaf",
  ) -> "ParamLayout":
    """Builds the layout of `template`.

    Args:
      template: a parameter pytree of arrays or `jax.ShapeDtypeStruct`s. Constant
        leaves are copied from it, so pass a real checkpoint when constants matter.
      keep_constant: regexes over leaf paths; matching floating leaves are not generated.
      log_transform: regexes over leaf paths of variance-like leaves.
      group_by: 'leaf' makes every tensor its own layer (RPG's per-entry tokens);
        'module' groups the leaves that share a parent path (kernel + bias).
    """
    if group_by not in ("leaf", "module"):
      raise ValueError(f"group_by must be 'leaf' or 'module', got {group_by!r}")
    path_leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    specs, constants, groups, group_ids = [], [], [], {}
    offset = 0
    for path, leaf in path_leaves:
      name = path_to_str(path)
      shape = tuple(int(d) for d in np.shape(leaf))
      dtype = np.dtype(leaf.dtype) if hasattr(leaf, "dtype") else np.asarray(leaf).dtype
      generated = _is_generated_dtype(dtype) and not _matches(name, keep_constant)
      if generated:
        group_name = name if group_by == "leaf" else name.rpartition("/")[0] or name
        group = group_ids.setdefault(group_name, len(groups))
        if group == len(groups):
          groups.append(group_name)
        specs.append(LeafSpec(name, shape, dtype, True, group, offset,
                              _matches(name, log_transform)))
        offset += specs[-1].size
        constants.append(None)
      else:
        specs.append(LeafSpec(name, shape, dtype, False, -1, -1, False))
        if isinstance(leaf, jax.ShapeDtypeStruct):
          raise ValueError(
              f"leaf {name!r} is kept constant, so the template must hold its value, "
              "not a ShapeDtypeStruct")
        constants.append(np.asarray(jax.device_get(leaf)))
    return cls(treedef, specs, groups, constants)

  # -- transforms (pure, jittable) --------------------------------------------------

  def _check_structure(self, tree: PyTree) -> list:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    if treedef != self.treedef:
      raise ValueError(f"parameter tree does not match the layout:\n  got      {treedef}\n"
                       f"  expected {self.treedef}")
    for spec, leaf in zip(self.leaves, leaves):
      if spec.generated and tuple(np.shape(leaf)) != spec.shape:
        raise ValueError(f"leaf {spec.path!r} has shape {np.shape(leaf)}, layout expects "
                         f"{spec.shape}")
    return leaves

  def to_vector(self, tree: PyTree) -> jax.Array:
    """Concatenates the generated leaves: pytree -> (num_params,) of `self.dtype`."""
    leaves = self._check_structure(tree)
    parts = [jnp.ravel(leaf).astype(self.dtype)
             for spec, leaf in zip(self.leaves, leaves) if spec.generated]
    return jnp.concatenate(parts) if parts else jnp.zeros((0,), self.dtype)

  def from_vector(self, vector: jax.Array) -> PyTree:
    """Inverse of `to_vector`: (num_params,) -> pytree, constants from the template."""
    if vector.shape != (self.num_params,):
      raise ValueError(f"expected a vector of shape ({self.num_params},), got {vector.shape}")
    leaves = []
    for spec, const in zip(self.leaves, self._constants):
      if spec.generated:
        piece = jax.lax.slice_in_dim(vector, spec.offset, spec.offset + spec.size)
        leaves.append(piece.reshape(spec.shape).astype(spec.dtype))
      else:
        leaves.append(jnp.asarray(const))
    return jax.tree_util.tree_unflatten(self.treedef, leaves)

  # -- descriptions -------------------------------------------------------------------

  @property
  def generated_leaves(self) -> tuple[LeafSpec, ...]:
    return tuple(s for s in self.leaves if s.generated)

  @property
  def constant_leaves(self) -> tuple[LeafSpec, ...]:
    return tuple(s for s in self.leaves if not s.generated)

  @property
  def constants(self) -> tuple[np.ndarray | None, ...]:
    """Per leaf, the template's value of a constant leaf (None for generated ones)."""
    return self._constants

  def summary(self) -> str:
    """A human-readable table of layers and sizes."""
    lines = [f"{'layer':<48} {'params':>10}"]
    for g, name in enumerate(self.groups):
      lines.append(f"{name:<48} {int(self.group_sizes[g]):>10,}")
    lines.append(f"{len(self.groups)} layers, {self.num_params:,} generated parameters, "
                 f"{len(self.constant_leaves)} constant leaves, vector dtype {self.dtype}")
    return "\n".join(lines)

  def __repr__(self) -> str:
    return (f"ParamLayout({len(self.leaves)} leaves, {len(self.groups)} layers, "
            f"{self.num_params} generated parameters, dtype={self.dtype})")
