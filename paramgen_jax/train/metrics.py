"""Metrics: one JSON line per logged step in the workdir, and a console progress bar."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any, Mapping

import tqdm


# Metrics the train step computes only every `log_every` steps (`make_train_step`).
SOMETIMES = ("grad_norm", "param_norm")


class MetricsLog:
  """Appends `{"step": s, ...}` rows to a JSON-lines file.

  Opened with `resume_step=k`, rows of steps > k (written after the last checkpoint by a
  run that then died) are dropped, so a resumed run leaves each step exactly once.
  """

  def __init__(self, path: str, *, resume_step: int = 0):
    self.path = path
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    kept = []
    if resume_step > 0 and os.path.exists(path):
      with open(path) as f:
        kept = [line for line in f if line.strip() and json.loads(line)["step"] <= resume_step]
    elif os.path.exists(path):
      os.remove(path)
    with open(path, "w") as f:
      f.writelines(kept)
    self._file = open(path, "a")

  def write(self, step: int, metrics: Mapping[str, Any]) -> None:
    """Norms the step did not compute (NaN off `metrics_every` steps) are left out."""
    row = {"step": int(step), "time": round(time.time(), 3), **measured(metrics)}
    self._file.write(json.dumps(row, allow_nan=True) + "\n")

  def flush(self) -> None:
    self._file.flush()
    os.fsync(self._file.fileno())

  def close(self) -> None:
    self.flush()
    self._file.close()


def read_metrics(path: str) -> list[dict]:
  """All rows of a metrics file."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def progress_bar(total: int, initial: int, desc: str, enabled: bool = True) -> tqdm.tqdm:
  """A tqdm bar with rate and ETA on stderr."""
  return tqdm.tqdm(total=total, initial=initial, desc=desc, disable=not enabled,
                   file=sys.stderr, mininterval=1.0, dynamic_ncols=True,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                              "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")


def measured(metrics: Mapping[str, Any]) -> dict[str, float]:
  """A step's metrics as floats, without the norms it did not compute (NaN off
  `metrics_every` steps)."""
  return {k: float(v) for k, v in metrics.items()
          if not (k in SOMETIMES and math.isnan(float(v)))}


def shown_metrics(shown: Mapping[str, float], metrics: Mapping[str, Any]) -> dict[str, float]:
  """What the progress bar shows after the row `metrics`: its measured values, and for a norm
  the step did not compute the last one that was, so the bar never reads 'nan' for a value
  that was simply not measured."""
  return {**shown, **measured(metrics)}


def format_metrics(metrics: Mapping[str, float]) -> str:
  parts = []
  for key in ("loss", "lr", "grad_norm"):
    if key in metrics:
      value = metrics[key]
      parts.append(f"{key}={value:.3g}" if math.isfinite(value) else f"{key}={value}")
  return " ".join(parts)
