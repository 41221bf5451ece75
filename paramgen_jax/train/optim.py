"""Optimizer from the `train` config section: AdamW, warm-up + cosine decay, clipping."""

from __future__ import annotations

from typing import Any, Callable

import optax


def learning_rate_schedule(cfg: Any) -> Callable[[int], float]:
  """Linear warm-up from 0 to `lr`, then cosine decay to `lr * final_lr_ratio` at `steps`."""
  warmup = int(cfg.warmup_steps)
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=float(cfg.lr), warmup_steps=warmup,
      decay_steps=max(int(cfg.steps), warmup + 1),
      end_value=float(cfg.lr) * float(cfg.final_lr_ratio))


def make_optimizer(cfg: Any) -> tuple[optax.GradientTransformation, Callable[[int], float]]:
  """Returns (transformation, learning-rate schedule) for the `train` config section.

  Uses cfg.lr, warmup_steps, steps, final_lr_ratio, weight_decay, b1, b2, clip_norm
  (0 turns clipping off).
  """
  schedule = learning_rate_schedule(cfg)
  parts = []
  if float(cfg.clip_norm) > 0:
    parts.append(optax.clip_by_global_norm(float(cfg.clip_norm)))
  parts.append(optax.adamw(schedule, b1=float(cfg.b1), b2=float(cfg.b2),
                           weight_decay=float(cfg.weight_decay)))
  return optax.chain(*parts), schedule
