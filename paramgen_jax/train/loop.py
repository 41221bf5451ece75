"""The training loop shared by every generator: resumable, sharded, logged, NaN-guarded.

    state = fit(config.train, init_params=init_fn, loss_fn=loss_fn, batch_fn=batch_fn,
                workdir=workdir, key=jax.random.key(config.train.seed), mesh=mesh)

* `batch_fn(step) -> batch` must be a pure function of the step (draw with
  `fold_in(data_key, step)` or an epoch permutation from a seed): together with the
  step-folded train key, a run killed at step k and resumed from its last checkpoint
  ends with exactly the parameters of an uninterrupted run.
* The batch is split over the mesh's 'data' axis; the state (params, optimizer state,
  EMA) is split FSDP-style by `train.fsdp_min_size` (`paramgen_jax.train.sharding`):
  leaves from that many elements are split over 'data', smaller ones replicated.
* Checkpoints go to `workdir/checkpoints` every `checkpoint_every` steps (keep
  `keep_checkpoints`) and at the end, each sealed by a checksum record. A run resumes
  from the newest checkpoint that verifies; bad ones are named in a warning and set aside
  in `workdir/checkpoints.corrupt`.
* SIGINT (Ctrl-C) and SIGTERM only ask the loop to stop: it finishes the step under way,
  logs and checkpoints it, then raises KeyboardInterrupt. A step is never cut half way
  (the jitted step donates the old state, so a state read mid-step may already be gone).
* Metrics go to `workdir/metrics.jsonl` (one row per step, written every `log_every`
  steps; gradient and parameter norms only on those steps) and to a progress bar with ETA.
* A NaN or infinite loss raises `NonFiniteLossError` naming the step and the last
  verified checkpoint; the bad state is never saved.
* `workdir=None` trains in memory (library use): no checkpoint, no metrics file, no
  resume, nothing written; the progress bar, NaN guard, hooks and interrupts stay.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import sys
import threading
from typing import Any, Callable, Sequence

import jax

from jax.sharding import Mesh

from paramgen_jax import hosts
from paramgen_jax.configlib import global_batch
from paramgen_jax.errors import RunError
from paramgen_jax.train import mesh as mesh_lib
from paramgen_jax.train import sharding
from paramgen_jax.integrity import ensure_writable
from paramgen_jax.train.checkpoint import Checkpointer, CorruptCheckpointError, abstract_like
from paramgen_jax.train.metrics import MetricsLog, format_metrics, progress_bar, shown_metrics
from paramgen_jax.train.optim import make_optimizer
from paramgen_jax.train.state import PyTree, TrainState
from paramgen_jax.train.step import LossFn, jit_train_step, make_train_step

Hook = Callable[[int, TrainState, dict], None]


class NonFiniteLossError(RunError):
  """The loss became NaN or infinite; `directory` is None for a run trained in memory."""

  def __init__(self, step: int, value: float, last_good: int | None,
               directory: str | None):
    if last_good is not None:
      where = f"step {last_good} in {directory} (verified)"
    elif directory is None:
      where = "none (trained in memory, without checkpoints)"
    else:
      where = "none (no checkpoint was saved yet)"
    super().__init__(f"non-finite loss ({value}) at step {step}; last good checkpoint: {where}")
    self.step, self.value, self.last_good, self.directory = step, value, last_good, directory


class _StopOnSignal:
  """While active (main thread only), SIGINT and SIGTERM only set `requested`.

  The loop polls it between steps, where the state is whole and no batch or Orbax write
  is half done. Further signals while stopping are absorbed the same way, so a second
  Ctrl-C cannot break the final checkpoint.
  """

  SIGNALS = (signal.SIGINT, signal.SIGTERM)

  def __init__(self):
    self.requested: str | None = None
    self._previous: dict = {}

  def _handle(self, signum, frame):
    del frame
    self.requested = self.requested or signal.Signals(signum).name

  def __enter__(self) -> "_StopOnSignal":
    if threading.current_thread() is threading.main_thread():
      for sig in self.SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def _fingerprint(cfg: Any) -> str:
  to_dict = getattr(cfg, "to_dict", None)
  return json.dumps(to_dict() if to_dict else dict(cfg), sort_keys=True, default=str)


def _fsdp_min_size(cfg: Any) -> int:
  """`cfg.fsdp_min_size`; library callers' own sections may leave it out."""
  return int(getattr(cfg, "fsdp_min_size", sharding.DEFAULT_MIN_SIZE))


def _resume(ckpt: Checkpointer, abstract: PyTree) -> tuple[PyTree, dict, int | None]:
  """(state, meta, step) of the newest checkpoint that verifies, or (None, {}, None).

  Each bad newer one is set aside (so later saves of those steps work) and named in one
  warning line on stderr.
  """
  bad: list[tuple[int, CorruptCheckpointError]] = []
  state, meta, good = None, {}, None
  for step in reversed(ckpt.all_steps()):
    try:
      state, meta = ckpt.restore(step, abstract)
    except CorruptCheckpointError as e:
      bad.append((step, e))
      continue
    good = step
    break
  then = f"resuming from step {good}" if good is not None else "starting from scratch"
  for step, e in bad:
    moved = ckpt.set_aside(step)
    print(f"warning: checkpoint {e.path} is corrupt ({e.why}); {then} (moved to {moved})",
          file=sys.stderr)
  return state, meta, good


def _start(ckpt: Checkpointer | None, abstract: PyTree, cfg: Any) -> tuple[PyTree, int | None]:
  """(state, step) of the checkpoint to go on from, or (None, None): nothing to resume."""
  if ckpt is None:
    return None, None
  state, meta, good = _resume(ckpt, abstract)
  if state is not None and meta.get("train_config") not in (None, _fingerprint(cfg)):
    logging.warning("resuming %s from step %d with a changed train config", ckpt.directory,
                    good)
  return state, good


def _is_whole(state: PyTree) -> bool:
  """False when a leaf was donated to a step that did not return."""
  return not any(getattr(x, "is_deleted", lambda: False)()
                 for x in jax.tree_util.tree_leaves(state))


class _Progress:
  """What one `fit` call has done: its state, pending metrics and last verified step.

  `ckpt` and `log` are None for a run in memory (`log` also on processes other than the
  first, which leave the shared metrics file to it): then nothing is written.
  """

  def __init__(self, state: TrainState, last_good: int | None, bar: Any, *,
               ckpt: Checkpointer | None, log: MetricsLog | None, meta: dict):
    self.state, self.last_good = state, last_good
    self.done = int(jax.device_get(state.step))
    self.ckpt, self.log, self.bar, self.meta = ckpt, log, bar, meta
    self.pending: list[tuple[int, dict]] = []
    self.shown: dict[str, float] = {}  # the progress bar's values

  def flush(self) -> None:
    """Writes the pending metric rows; raises NonFiniteLossError at a non-finite loss."""
    rows = jax.device_get(self.pending)
    self.pending.clear()
    for step, metrics in rows:
      loss = float(metrics["loss"])
      if not math.isfinite(loss):
        raise NonFiniteLossError(step, loss, self.last_good,
                                 self.ckpt.directory if self.ckpt else None)
      if self.log is not None:
        self.log.write(step, metrics)
      self.shown = shown_metrics(self.shown, metrics)
    if self.log is not None:
      self.log.flush()
    if rows:
      self.bar.set_postfix_str(format_metrics(self.shown), refresh=False)

  def save(self) -> None:
    """Checkpoints the last completed step (after `flush`, so never a NaN state)."""
    if self.ckpt is not None:
      self.ckpt.save(self.done, self.state, self.meta, force=True)
      self.last_good = self.done

  def stop(self, start: int) -> None:
    """On an interrupt: logs what is pending and checkpoints the last completed step."""
    self.flush()
    if self.ckpt is None:
      self.bar.write("interrupted: nothing was saved (training in memory)")
      return
    if self.done > start and self.done != self.last_good and _is_whole(self.state):
      self.save()
    kept = (f"step {self.last_good} is checkpointed in {self.ckpt.directory}"
            if self.last_good is not None else "no checkpoint was saved yet")
    self.bar.write(f"interrupted: {kept}")


def _jitted(cfg: Any, init_params: Callable, loss_fn: LossFn, mesh: Mesh, stateful: bool,
            init_key: jax.Array) -> tuple[Callable, Callable, PyTree]:
  """(init: key -> state, step: (state, batch, key) -> (state, metrics), abstract state).

  Both are jitted with the state split by `cfg.fsdp_min_size`; the abstract state's
  ShapeDtypeStructs carry those shardings (the target of a restore).
  """
  tx, lr_schedule = make_optimizer(cfg)

  def init_state(k):
    params, model_state = init_params(k) if stateful else (init_params(k), {})
    return TrainState.create(params, tx, use_ema=cfg.ema_decay > 0, model_state=model_state)

  repl = mesh_lib.replicated(mesh)
  abstract = jax.eval_shape(init_state, init_key)
  state_sharding = sharding.state_shardings(abstract, mesh, _fsdp_min_size(cfg))
  step_fn = jit_train_step(
      make_train_step(loss_fn, tx, ema_decay=cfg.ema_decay, compute_dtype=cfg.compute_dtype,
                      learning_rate=lr_schedule, stateful=stateful,
                      metrics_every=cfg.log_every),
      state_sharding, mesh_lib.batch_sharding(mesh), repl)
  init = jax.jit(init_state, out_shardings=state_sharding)
  return init, step_fn, abstract_like(abstract, state_sharding)


def _checkpointer(workdir: str | None, cfg: Any) -> contextlib.AbstractContextManager:
  """A Checkpointer on `workdir/checkpoints`, or a context giving None (in memory)."""
  if workdir is None:
    return contextlib.nullcontext()
  return Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=cfg.keep_checkpoints)


def _metrics_log(workdir: str | None, start: int) -> MetricsLog | None:
  """`workdir/metrics.jsonl`, written by the first process only; None in memory."""
  if workdir is None or not hosts.is_writer():
    return None
  return MetricsLog(os.path.join(workdir, "metrics.jsonl"), resume_step=start)


def fit(cfg: Any, *, init_params: Callable[[jax.Array], PyTree], loss_fn: LossFn,
        batch_fn: Callable[[int], PyTree], workdir: str | None, key: jax.Array,
        mesh: Mesh | None = None, hooks: Sequence[Hook] = (), desc: str = "train",
        progress: bool = True, stateful: bool = False) -> TrainState:
  """Trains from scratch or from the newest good checkpoint in `workdir`; returns the state.

  Args:
    cfg: the `train` config section (steps, batch_size, lr, warmup_steps, final_lr_ratio,
      weight_decay, b1, b2, clip_norm, ema_decay, compute_dtype, log_every,
      checkpoint_every, keep_checkpoints, fsdp_min_size; the last defaults to 2**20).
    init_params: `key -> params`, or `key -> (params, model_state)` when `stateful`.
    loss_fn: `(params, batch, rng) -> (loss, metrics)`, or the stateful form of
      `make_train_step` when `stateful`.
    batch_fn: `step -> batch` (host arrays, leading axis = examples).
    workdir: where checkpoints/ and metrics.jsonl live; None trains in memory (nothing
      is written and nothing resumed).
    key: base key; init uses fold_in(key, 0), steps fold the step into fold_in(key, 1).
    mesh: devices to train on (default: all devices on a 'data' axis).
    hooks: called as hook(step, state, device_metrics) after every step.
    desc: progress bar label.
    progress: show the progress bar (on the first process).
    stateful: the model keeps state besides its parameters (BatchNorm statistics).

  Raises:
    KeyboardInterrupt: after SIGINT or SIGTERM, once the last completed step is saved.
    NonFiniteLossError: at a NaN or infinite loss.
    RunError: when `workdir/checkpoints` cannot be written.
  """
  mesh = mesh or mesh_lib.make_mesh()
  data = mesh_lib.data_parallel_size(mesh)
  if cfg.batch_size % data:
    raise ValueError(f"train.batch_size={cfg.batch_size} is not divisible by the {data} "
                     f"data-parallel devices: use {global_batch(cfg.batch_size, data)} (the "
                     "pipeline rounds a run's batches up itself)")
  if workdir is not None and hosts.is_writer():
    ensure_writable(os.path.join(workdir, "checkpoints"), "checkpoint folder")
  init_key, step_key = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
  init, step_fn, abstract = _jitted(cfg, init_params, loss_fn, mesh, stateful, init_key)
  with _StopOnSignal() as stop, _checkpointer(workdir, cfg) as ckpt:
    state, last_good = _start(ckpt, abstract, cfg)
    state = init(init_key) if state is None else state
    start = int(jax.device_get(state.step))
    log = _metrics_log(workdir, start)
    bar = progress_bar(cfg.steps, start, desc, progress and jax.process_index() == 0)
    run = _Progress(state, last_good, bar, ckpt=ckpt, log=log,
                    meta={"train_config": _fingerprint(cfg)})
    try:
      _loop(cfg, run, stop, hooks, lambda state, step: step_fn(
          state, mesh_lib.put_batch(batch_fn(step), mesh), step_key))
    finally:
      bar.close()
      if log is not None:
        log.close()
  if stop.requested:  # came while the last checkpoint was being written: it is whole
    raise KeyboardInterrupt(stop.requested)
  return run.state


def _loop(cfg: Any, run: _Progress, stop: _StopOnSignal, hooks: Sequence[Hook],
          train_step: Callable[[TrainState, int], tuple[TrainState, dict]]) -> None:
  """Steps `run` to `cfg.steps`; on an interrupt saves the last completed step and re-raises.

  `run.state` is replaced only once a step has returned, so it never holds the donated
  input of a step that was cut short.
  """
  start = run.done
  try:
    for step in range(start, cfg.steps):
      if stop.requested:  # checked between steps only: see _StopOnSignal
        raise KeyboardInterrupt(stop.requested)
      run.state, metrics = train_step(run.state, step)
      run.done = step + 1
      run.pending.append((run.done, metrics))
      _after_step(cfg, run, hooks, metrics)
    if stop.requested:
      raise KeyboardInterrupt(stop.requested)
  except KeyboardInterrupt:  # from the flag, or raised by a hook or batch_fn
    run.stop(start)
    raise


def _after_step(cfg: Any, run: _Progress, hooks: Sequence[Hook], metrics: dict) -> None:
  """Logs every `log_every` steps, checkpoints every `checkpoint_every`, calls the hooks."""
  at_checkpoint = run.done % cfg.checkpoint_every == 0 or run.done == cfg.steps
  if at_checkpoint or run.done % cfg.log_every == 0:
    run.flush()
  if at_checkpoint:
    run.save()
  for hook in hooks:
    hook(run.done, run.state, metrics)
  run.bar.update(1)


def restore_latest(workdir: str, abstract_state: TrainState) -> tuple[TrainState, int]:
  """Loads and verifies the latest checkpoint of a finished (or interrupted) run.

  There is no fallback to an older step here: samples from it would silently be another
  result than the one asked for.

  Returns:
    (state, step).

  Raises:
    FileNotFoundError: no checkpoint.
    CorruptDataError: the latest checkpoint fails verification (one line naming it).
  """
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"no checkpoint in {os.path.abspath(directory)}: "
                            "run --mode=train first")
  with Checkpointer(directory) as ckpt:
    step = ckpt.latest_step()
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {ckpt.directory}: run --mode=train first")
    state, _ = ckpt.restore(step, abstract_like(abstract_state), advice=(
        "run --mode=train again to redo it from the last good checkpoint"))
  return state, step
