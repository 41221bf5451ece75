"""Summary statistics shared by every report."""

from __future__ import annotations

import numpy as np

STAT_KEYS = ("best", "mean", "median", "min", "std", "n")


def summary(values) -> dict:
  """{'best', 'mean', 'median', 'min', 'std', 'n'} of a 1-d array (NaNs dropped); {} if empty."""
  values = np.asarray(values, np.float64).ravel()
  values = values[~np.isnan(values)]
  if values.size == 0:
    return {}
  return {"best": float(values.max()), "mean": float(values.mean()),
          "median": float(np.median(values)), "min": float(values.min()),
          "std": float(values.std()), "n": int(values.size)}
