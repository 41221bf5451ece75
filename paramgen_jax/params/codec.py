"""Parameter codecs: fitted once on a zoo, saved beside the generator, loaded to decode.

A codec maps one model's parameter pytree to the array a generator models, and back:

  TokenCodec (RPG)     per-layer normalization (log transform of variances), or each
                       coordinate z-scored over the zoo, then fixed-size tokens:
                       pytree -> (num_tokens, token_size)
  FlatCodec  (p-diff)  per-coordinate normalization (COND P-DIFF's per task, pooled over
                       the zoo, or none), zero-padded: pytree -> (length,)

    codec = TokenCodec.fit(stacked, token_size=256, granularity="layer")
    tokens = jax.vmap(codec.encode)(stacked)     # (N, S, T)
    again = jax.vmap(codec.decode)(tokens)       # stacked pytrees, equal up to float32 rounding
    save_codec(codec, directory); codec = load_codec(directory)

Its statistics come from the checkpoints it was fitted on (a generator's training zoo) and
nothing else, so what a generator writes does not depend on checkpoints it never saw. A
saved codec is `codec.npz` (layout constants, statistics) and `codec.json` (the layout, the
settings and a checksum of the arrays, written last); `load_codec` verifies it. Saving needs
a pytree of nested dicts (Flax variables), whose structure the leaf paths describe.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax.errors import CorruptDataError
from paramgen_jax.integrity import atomic_write_json, read_json, tree_checksum
from paramgen_jax.params.flat import padded_length
from paramgen_jax.params.layout import LeafSpec, ParamLayout, PyTree, path_to_str
from paramgen_jax.params.normalize import (LayerStats, TaskStats, denormalize_layers,
                                           denormalize_task, fit_coordinate_stats,
                                           fit_layer_stats, fit_pooled_stats, normalize_layers,
                                           normalize_task)
from paramgen_jax.params.tokens import TokenLayout, detokenize, make_token_layout, tokenize

ARRAYS, RECORD = "codec.npz", "codec.json"
TOKEN_NORMALIZATIONS = ("layer", "coordinate")


def _vectors(stacked: PyTree, layout: ParamLayout) -> jax.Array:
  return jax.vmap(layout.to_vector)(stacked)


def _first(stacked: PyTree) -> PyTree:
  return jax.tree_util.tree_map(lambda leaf: np.asarray(leaf[0]), stacked)


@dataclasses.dataclass(frozen=True, eq=False)
class TokenCodec:
  """RPG's codec: statistics of the fitted checkpoints and a token plan over the layout.

  Attributes:
    layout: the parameter layout (constants from the first fitted checkpoint).
    plan: the token plan; plan.token_size entries per token.
    stats: per-layer statistics (`LayerStats`, normalization 'layer') or each coordinate's
      mean and std over the checkpoints (`TaskStats` of one task, (1, P); 'coordinate').
    normalization: 'layer' (RPG's) or 'coordinate'. With a shared initialization most of
      a coordinate's value is common to every checkpoint; 'coordinate' removes it.
  """
  layout: ParamLayout
  plan: TokenLayout
  stats: LayerStats | TaskStats
  normalization: str = "layer"

  kind = "tokens"

  @classmethod
  def fit(cls, stacked: PyTree, *, token_size: int, granularity: str = "layer",
          normalization: str = "layer") -> "TokenCodec":
    """Fits on stacked checkpoints (N, ...) of one architecture."""
    if normalization not in TOKEN_NORMALIZATIONS:
      raise ValueError(f"normalization must be one of {TOKEN_NORMALIZATIONS}, "
                       f"got {normalization!r}")
    layout = ParamLayout.from_template(_first(stacked))
    vectors = _vectors(stacked, layout)
    stats = (fit_layer_stats(vectors, layout) if normalization == "layer" else
             fit_pooled_stats(vectors))
    return cls(layout, make_token_layout(layout, token_size, granularity), stats, normalization)

  def encode(self, tree: PyTree) -> jax.Array:
    """One model's pytree -> (num_tokens, token_size) normalized tokens (padding 0)."""
    vector = self.layout.to_vector(tree)
    normalized = (normalize_layers(vector, self.stats, self.layout)
                  if self.normalization == "layer" else normalize_task(vector, 0, self.stats))
    return tokenize(normalized, self.plan)

  def decode(self, tokens: jax.Array) -> PyTree:
    """(num_tokens, token_size) -> the model's pytree. Traceable."""
    vector = detokenize(tokens, self.plan)
    vector = (denormalize_layers(vector, self.stats, self.layout)
              if self.normalization == "layer" else
              denormalize_task(vector, 0, self.stats).astype(self.layout.dtype))
    return self.layout.from_vector(vector)

  def settings(self) -> dict:
    # 'layer' is left out, so codecs saved before the choice existed read back unchanged.
    extra = {} if self.normalization == "layer" else {"normalization": self.normalization}
    return {"token_size": self.plan.token_size, "granularity": self.plan.granularity, **extra}

  def arrays(self) -> dict[str, np.ndarray]:
    return {f"stats/{k}": np.asarray(v) for k, v in self.stats._asdict().items()}

  @classmethod
  def restore(cls, layout: ParamLayout, settings: dict, arrays: dict) -> "TokenCodec":
    normalization = settings.get("normalization", "layer")
    stats_type = LayerStats if normalization == "layer" else TaskStats
    stats = stats_type(*(jnp.asarray(arrays[f"stats/{k}"]) for k in stats_type._fields))
    plan = make_token_layout(layout, settings["token_size"], settings["granularity"])
    return cls(layout, plan, stats, normalization)


@dataclasses.dataclass(frozen=True, eq=False)
class FlatCodec:
  """p-diff's codec: per-coordinate statistics per seen task, and a padded length.

  Attributes:
    layout: the parameter layout (constants from the first fitted checkpoint).
    length: the padded vector length (a multiple of the generator's, e.g. 2^stages).
    stats: TaskStats (num_tasks, num_params): row k normalizes task `tasks[k]`.
    tasks: the fitted (seen) task names, in row order.
    normalization: 'task', 'batch' or 'none' (`fit_coordinate_stats`).
  """
  layout: ParamLayout
  length: int
  stats: TaskStats
  tasks: tuple[str, ...]
  normalization: str

  kind = "flat"

  @classmethod
  def fit(cls, stacked: PyTree, task_ids: np.ndarray, tasks: Sequence[str], *,
          normalization: str = "task", multiple: int = 1) -> "FlatCodec":
    """Fits on stacked checkpoints (N, ...); task_ids (N,) index `tasks`."""
    layout = ParamLayout.from_template(_first(stacked))
    stats = fit_coordinate_stats(normalization, _vectors(stacked, layout), task_ids, len(tasks))
    return cls(layout, padded_length(layout.num_params, multiple=multiple), stats,
               tuple(tasks), normalization)

  @property
  def mask(self) -> np.ndarray:
    """(length,) bool: True on real parameters, False on padding."""
    return np.arange(self.length) < self.layout.num_params

  def encode(self, tree: PyTree, task: jax.Array | int) -> jax.Array:
    """One model's pytree and its task's row -> (length,) float32, normalized, 0-padded."""
    vector = normalize_task(self.layout.to_vector(tree), task, self.stats)
    return jnp.pad(vector, (0, self.length - self.layout.num_params))

  def decode(self, vector: jax.Array, task: jax.Array | int) -> PyTree:
    """(length,) and the row of the statistics to use -> the model's pytree. Traceable."""
    real = denormalize_task(vector[:self.layout.num_params], task, self.stats)
    return self.layout.from_vector(real.astype(self.layout.dtype))

  def decode_with(self, vector: jax.Array, mean: jax.Array, std: jax.Array) -> PyTree:
    """(length,) denormalized with statistics (num_params,) given, not a task's row (a task
    the codec was not fitted on) -> the model's pytree. Traceable."""
    real = vector[:self.layout.num_params].astype(jnp.float32) * std + mean
    return self.layout.from_vector(real.astype(self.layout.dtype))

  def settings(self) -> dict:
    return {"length": self.length, "tasks": list(self.tasks),
            "normalization": self.normalization}

  def arrays(self) -> dict[str, np.ndarray]:
    return {f"stats/{k}": np.asarray(v) for k, v in self.stats._asdict().items()}

  @classmethod
  def restore(cls, layout: ParamLayout, settings: dict, arrays: dict) -> "FlatCodec":
    stats = TaskStats(*(jnp.asarray(arrays[f"stats/{k}"]) for k in TaskStats._fields))
    return cls(layout, int(settings["length"]), stats, tuple(settings["tasks"]),
               settings["normalization"])


CODECS = {c.kind: c for c in (TokenCodec, FlatCodec)}
Codec = TokenCodec | FlatCodec


# -- saving ------------------------------------------------------------------------------

def _nested(paths: Sequence[str], leaves: Sequence[Any]) -> dict:
  tree: dict = {}
  for path, leaf in zip(paths, leaves):
    *parents, name = path.split("/")
    node = tree
    for part in parents:
      node = node.setdefault(part, {})
    node[name] = leaf
  return tree


def _dtype_name(dtype: Any) -> str:
  """'float32', 'bfloat16', ...: NumPy's `.str` names bfloat16 '<V2', which loads as bytes."""
  return jnp.dtype(dtype).name


def layout_record(layout: ParamLayout) -> tuple[dict, dict[str, np.ndarray]]:
  """(JSON-able description, {'constant/<path>': array}) of a layout of nested dicts.

  The record keeps the tree's skeleton (its dicts, empty ones included, with 0 at each leaf),
  so the structure restores exactly."""
  skeleton = jax.tree_util.tree_unflatten(layout.treedef, [0] * len(layout.leaves))
  if (not isinstance(skeleton, dict)
      or jax.tree_util.tree_structure(json.loads(json.dumps(skeleton))) != layout.treedef):
    raise ValueError("only parameter pytrees of nested dicts (Flax variables) can be saved; "
                     f"this layout's structure is {layout.treedef}")
  leaves = [{"path": s.path, "shape": list(s.shape), "dtype": _dtype_name(s.dtype),
             "generated": s.generated, "group": s.group, "offset": s.offset,
             "log_transform": s.log_transform} for s in layout.leaves]
  constants = {f"constant/{s.path}": c for s, c in zip(layout.leaves, layout.constants)
               if c is not None}
  return {"leaves": leaves, "groups": list(layout.groups), "skeleton": skeleton}, constants


def layout_from_record(record: dict, arrays: dict[str, np.ndarray]) -> ParamLayout:
  """Inverse of `layout_record`."""
  specs = [LeafSpec(d["path"], tuple(d["shape"]), jnp.dtype(d["dtype"]), d["generated"],
                    d["group"], d["offset"], d["log_transform"]) for d in record["leaves"]]
  paths = [s.path for s in specs]
  nested = record["skeleton"] if "skeleton" in record else _nested(paths, paths)
  treedef = jax.tree_util.tree_structure(nested)
  order = {path_to_str(p): i for i, (p, _) in
           enumerate(jax.tree_util.tree_leaves_with_path(nested))}
  specs = sorted(specs, key=lambda s: order[s.path])  # jax.tree_util order, as at fit time
  constants = [None if s.generated else arrays[f"constant/{s.path}"] for s in specs]
  return ParamLayout(treedef, specs, record["groups"], constants)


def save_codec(codec: Codec, directory: str) -> None:
  """Writes codec.npz, then codec.json (with the arrays' checksum) into `directory`."""
  os.makedirs(directory, exist_ok=True)
  layout, constants = layout_record(codec.layout)
  arrays = {**constants, **codec.arrays()}
  tmp = os.path.join(directory, f".{ARRAYS}.tmp{os.getpid()}.npz")
  np.savez(tmp, **arrays)
  os.replace(tmp, os.path.join(directory, ARRAYS))
  atomic_write_json(os.path.join(directory, RECORD), {
      "kind": codec.kind, "settings": codec.settings(), "layout": layout,
      "checksum": tree_checksum(arrays)})


def load_codec(directory: str) -> Codec:
  """The codec saved in `directory`, verified against its checksum.

  Raises:
    FileNotFoundError: no codec there (one line).
    CorruptDataError: the files do not match their record (one line naming them).
  """
  record_path = os.path.join(directory, RECORD)
  if not os.path.exists(record_path):
    raise FileNotFoundError(f"no parameter codec in {directory}: run --mode=train first")
  advice = "run --mode=train again to fit it again"
  try:
    record = read_json(record_path, "parameter codec")
    with np.load(os.path.join(directory, ARRAYS)) as saved:
      arrays = {name: saved[name] for name in saved.files}
  except (OSError, ValueError) as e:
    raise CorruptDataError(f"parameter codec {directory}: {e}; {advice}") from None
  if tree_checksum(arrays) != record.get("checksum"):
    raise CorruptDataError(f"parameter codec {directory}: {ARRAYS} does not match the "
                           f"checksum in {RECORD}; {advice}")
  codec_cls = CODECS[record["kind"]]
  return codec_cls.restore(layout_from_record(record["layout"], arrays), record["settings"],
                           arrays)

