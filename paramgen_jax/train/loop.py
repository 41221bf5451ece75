"""The training loop shared by every generator: resumable, sharded, logged, NaN-guarded.

    state = fit(config.train, init_params=init_fn, loss_fn=loss_fn, batch_fn=batch_fn,
                workdir=workdir, key=jax.random.key(config.train.seed), mesh=mesh)

* `batch_fn(step) -> batch` must be a pure function of the step (draw with
  `fold_in(data_key, step)` or an epoch permutation from a seed): together with the
  step-folded train key, a run killed at step k and resumed from its last checkpoint
  ends with exactly the parameters of an uninterrupted run.
* Checkpoints go to `workdir/checkpoints` every `checkpoint_every` steps (keep
  `keep_checkpoints`) and at the end; an existing checkpoint is resumed automatically.
  Ctrl-C saves the current step before stopping.
* Metrics go to `workdir/metrics.jsonl` (one row per step, written every `log_every`
  steps) and to a progress bar with ETA.
* A NaN or infinite loss raises `NonFiniteLossError` naming the step and the last good
  checkpoint; the bad state is never saved.
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import Any, Callable, Sequence

import jax

from jax.sharding import Mesh

from paramgen_jax.train import mesh as mesh_lib
from paramgen_jax.train.checkpoint import Checkpointer, abstract_like
from paramgen_jax.train.metrics import MetricsLog, format_metrics, progress_bar
from paramgen_jax.train.optim import make_optimizer
from paramgen_jax.train.state import PyTree, TrainState
from paramgen_jax.train.step import LossFn, jit_train_step, make_train_step

Hook = Callable[[int, TrainState, dict], None]


class NonFiniteLossError(RuntimeError):
  """The loss became NaN or infinite."""

  def __init__(self, step: int, value: float, last_good: int | None, directory: str):
    where = (f"step {last_good} in {directory}" if last_good is not None
             else "none (no checkpoint was saved yet)")
    super().__init__(f"non-finite loss ({value}) at step {step}; last good checkpoint: {where}")
    self.step, self.value, self.last_good = step, value, last_good


def _fingerprint(cfg: Any) -> str:
  to_dict = getattr(cfg, "to_dict", None)
  return json.dumps(to_dict() if to_dict else dict(cfg), sort_keys=True, default=str)


def fit(cfg: Any, *, init_params: Callable[[jax.Array], PyTree], loss_fn: LossFn,
        batch_fn: Callable[[int], PyTree], workdir: str, key: jax.Array,
        mesh: Mesh | None = None, hooks: Sequence[Hook] = (), desc: str = "train",
        progress: bool = True, stateful: bool = False) -> TrainState:
  """Trains from scratch or from the latest checkpoint in `workdir`; returns the final state.

  Args:
    cfg: the `train` config section (steps, batch_size, lr, warmup_steps, final_lr_ratio,
      weight_decay, b1, b2, clip_norm, ema_decay, compute_dtype, log_every,
      checkpoint_every, keep_checkpoints).
    init_params: `key -> params`, or `key -> (params, model_state)` when `stateful`.
    loss_fn: `(params, batch, rng) -> (loss, metrics)`, or the stateful form of
      `make_train_step` when `stateful`.
    batch_fn: `step -> batch` (host arrays, leading axis = examples).
    workdir: where checkpoints/ and metrics.jsonl live.
    key: base key; init uses fold_in(key, 0), steps fold the step into fold_in(key, 1).
    mesh: devices to train on (default: all devices on a 'data' axis).
    hooks: called as hook(step, state, device_metrics) after every step.
    desc: progress bar label.
    progress: show the progress bar.
    stateful: the model keeps state besides its parameters (BatchNorm statistics).
  """
  mesh = mesh or mesh_lib.make_mesh()
  if cfg.batch_size % mesh_lib.data_parallel_size(mesh):
    raise ValueError(f"train.batch_size={cfg.batch_size} is not divisible by the "
                     f"{mesh_lib.data_parallel_size(mesh)} data-parallel devices")
  tx, lr_schedule = make_optimizer(cfg)
  init_key, step_key = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)

  def init_state(k):
    params, model_state = init_params(k) if stateful else (init_params(k), {})
    return TrainState.create(params, tx, use_ema=cfg.ema_decay > 0, model_state=model_state)

  repl = mesh_lib.replicated(mesh)
  abstract = jax.eval_shape(init_state, init_key)
  state_sharding = jax.tree_util.tree_map(lambda _: repl, abstract)
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=cfg.keep_checkpoints)
  last_good = ckpt.latest_step()
  if last_good is None:
    state = jax.jit(init_state, out_shardings=state_sharding)(init_key)
  else:
    state, meta = ckpt.restore(last_good, abstract_like(abstract, state_sharding))
    if meta.get("train_config") not in (None, _fingerprint(cfg)):
      logging.warning("resuming %s from step %d with a changed train config", workdir, last_good)
  start = int(jax.device_get(state.step))
  meta = {"train_config": _fingerprint(cfg)}

  step_fn = jit_train_step(
      make_train_step(loss_fn, tx, ema_decay=cfg.ema_decay, compute_dtype=cfg.compute_dtype,
                      learning_rate=lr_schedule, stateful=stateful),
      state_sharding, mesh_lib.batch_sharding(mesh), repl)
  log = MetricsLog(os.path.join(workdir, "metrics.jsonl"), resume_step=start)
  bar = progress_bar(cfg.steps, start, desc, progress)
  pending: list[tuple[int, dict]] = []

  def flush():
    rows = jax.device_get(pending)
    pending.clear()
    for step, metrics in rows:
      loss = float(metrics["loss"])
      if not math.isfinite(loss):
        raise NonFiniteLossError(step, loss, last_good, ckpt.directory)
      log.write(step, metrics)
    log.flush()
    if rows:
      bar.set_postfix_str(format_metrics(rows[-1][1]), refresh=False)

  def save(step):
    nonlocal last_good
    ckpt.save(step, state, meta, force=True)
    last_good = step

  try:
    for step in range(start, cfg.steps):
      batch = mesh_lib.put_batch(batch_fn(step), mesh)
      state, metrics = step_fn(state, batch, step_key)
      done = step + 1
      pending.append((done, metrics))
      at_checkpoint = done % cfg.checkpoint_every == 0 or done == cfg.steps
      if at_checkpoint or done % cfg.log_every == 0:
        flush()
      if at_checkpoint:
        save(done)
      for hook in hooks:
        hook(done, state, metrics)
      bar.update(1)
  except KeyboardInterrupt:
    # Keep what was trained: log what is pending, checkpoint the current step.
    done = int(jax.device_get(state.step))
    flush()
    if done != last_good:
      save(done)
    bar.write(f"interrupted: saved step {done} to {ckpt.directory}")
    raise
  finally:
    bar.close()
    log.close()
    ckpt.close()
  return state


def restore_latest(workdir: str, abstract_state: TrainState) -> tuple[TrainState, int]:
  """Loads the latest checkpoint of a finished (or interrupted) run: (state, step)."""
  with Checkpointer(os.path.join(workdir, "checkpoints")) as ckpt:
    step = ckpt.latest_step()
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {ckpt.directory}: run --mode=train first")
    state, _ = ckpt.restore(step, abstract_like(abstract_state))
  return state, step


