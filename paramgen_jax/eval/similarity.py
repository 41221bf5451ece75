"""Memorization diagnostics: is a generated model a near-copy of a training checkpoint?

Two measures, as RPG's and p-diff's evaluations (and Zeng et al. 2025) use:
  * IoU of wrong predictions: |W_a ∩ W_b| / |W_a ∪ W_b| over the test examples each model
    gets wrong; the maximum over the originals is the nearest neighbour's similarity.
  * L2 distance between parameter vectors, to the nearest original.
"""

from __future__ import annotations

import numpy as np


def wrong_iou(wrong_a: np.ndarray, wrong_b: np.ndarray) -> np.ndarray:
  """(Sa, N) and (Sb, N) bool 'got it wrong' -> (Sa, Sb) IoU; two perfect models have IoU 1."""
  a = wrong_a.astype(np.float64)
  b = wrong_b.astype(np.float64)
  inter = a @ b.T
  union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
  return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def pairwise_l2(vectors_a: np.ndarray, vectors_b: np.ndarray) -> np.ndarray:
  """(Sa, P), (Sb, P) -> (Sa, Sb) Euclidean distances."""
  a = vectors_a.astype(np.float64)
  b = vectors_b.astype(np.float64)
  sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
  return np.sqrt(np.maximum(sq, 0.0))


def nearest(similarity: np.ndarray, *, largest: bool = True,
            exclude_diagonal: bool = False) -> np.ndarray:
  """Per row, the best value over columns (max IoU or min distance); NaN if no column left.

  With `exclude_diagonal` (originals against themselves) a model is not its own neighbour.
  """
  values = similarity.astype(np.float64).copy()
  if exclude_diagonal:
    np.fill_diagonal(values, -np.inf if largest else np.inf)
  if values.shape[1] == 0 or (exclude_diagonal and values.shape[1] == 1):
    return np.full(values.shape[0], np.nan)
  return values.max(1) if largest else values.min(1)
