"""The zoo as the networks' training data: one FlatCodec per architecture (per-coordinate
normalization pooled over its models), the models as vectors zero-padded to the longest
architecture's, and the conditions one row per task (`conditions.by_task`).

    codecs = fit_codecs(zoo, chunk=64)              # zoo: stacked, or a protocol.MixedZoo
    data = training_data(chunk, codecs, zoo, conditions)   # TrainData
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from paramgen_jax.methods.d2nwg import conditions as C
from paramgen_jax.params.codec import FlatCodec
from paramgen_jax.protocol import MixedZoo, SupportSets


class TrainData(NamedTuple):
  """vectors (N, D) normalized, zero-padded weights; masks (N, D) real entries; arch_ids,
  task_ids (N,); support (T, R, C, K, F): R support sets of each of T tasks (C classes,
  K images each, F features); support_mask (T, R, C, K)."""
  vectors: np.ndarray
  masks: np.ndarray
  arch_ids: np.ndarray
  task_ids: np.ndarray
  support: np.ndarray
  support_mask: np.ndarray


def _zoos(zoo: Any) -> tuple:
  return tuple(zoo.zoos) if isinstance(zoo, MixedZoo) else (zoo,)


def _count(stacked: Any) -> int:
  return len(jax.tree_util.tree_leaves(stacked)[0])


def fit_codecs(zoo: Any, chunk: int) -> tuple[FlatCodec, ...]:
  """One FlatCodec per architecture of `zoo` (stacked, or a MixedZoo): per-coordinate
  statistics pooled over its models, length a multiple of `chunk` (the VAE's)."""
  return tuple(FlatCodec.fit(stacked, np.zeros(_count(stacked), np.int32), ("all",),
                            normalization="batch", multiple=chunk) for stacked in _zoos(zoo))


def _vectors(codec: FlatCodec, stacked: Any, length: int) -> tuple[np.ndarray, np.ndarray]:
  v = np.asarray(jax.vmap(lambda tree: codec.encode(tree, 0))(stacked), np.float32)
  n = codec.layout.num_params
  return (np.pad(v, ((0, 0), (0, length - v.shape[1]))),
          np.broadcast_to(np.arange(length) < n, (len(v), length)).copy())


def training_data(chunk: int, codecs: tuple[FlatCodec, ...], zoo: Any,
                  conditions: SupportSets) -> TrainData:
  """The zoo's models as vectors zero-padded to the longest architecture's (a multiple of
  `chunk`, the VAE's), with their architecture, and the conditions one row per task."""
  length = max(-(-c.length // chunk) * chunk for c in codecs)
  parts = [(*_vectors(codec, stacked, length), np.full(_count(stacked), a, np.int32))
           for a, (codec, stacked) in enumerate(zip(codecs, _zoos(zoo)))]
  vectors, masks, arch_ids = (np.concatenate(p) for p in zip(*parts))
  return TrainData(vectors, masks, arch_ids, *C.by_task(conditions, len(vectors)))
