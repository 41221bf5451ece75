"""Checkpoint collection: many tasks trained at once with `vmap`, RPG's recipe per task.

Per task and seed: train for `epochs` (AdamW, warm-up + cosine decay from `lr` to
`save_lr`), then one more pass over the training set at `save_lr`, cut into `checkpoints`
equal batches, saving after each: N evenly spaced checkpoints around one optimum. A unit
(up to `tasks_per_unit` tasks with one seed) is one vmapped training run; units are
written to the zoo as they finish, so a killed collection resumes at the unit it was in.
Everything is seeded: the same config gives the same zoo.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from paramgen_jax import memory
from paramgen_jax.data import Dataset
from paramgen_jax.errors import NonFiniteError
from paramgen_jax.integrity import nonfinite_sets
from paramgen_jax.train import TrainState, make_optimizer, make_train_step
from paramgen_jax.train.metrics import progress_bar
from paramgen_jax.zoo import store
from paramgen_jax.zoo.accuracy import accuracy, correct_matrix, predict_many
from paramgen_jax.zoo.models import Target, split_variables
from paramgen_jax.zoo.tasks import Task


def shift_images(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
  """Random translations by up to `max_shift` pixels, zero fill. x: (B, H, W, C)."""
  if max_shift <= 0:
    return x
  b, h, w, _ = x.shape
  padded = np.pad(x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)))
  dy, dx = rng.integers(0, 2 * max_shift + 1, (2, b))
  rows = dy[:, None] + np.arange(h)[None, :]
  cols = dx[:, None] + np.arange(w)[None, :]
  return padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def classification_loss(target: Target, label_smoothing: float = 0.0):
  """Stateful loss for `make_train_step`: batch = (x (B, ...), labels (B,), used (B,))."""
  def loss_fn(params, model_state, batch, rng):
    x, labels, used = batch
    logits, new_state = target.apply_train(params, model_state, x, rng)
    targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), label_smoothing)
    per_example = optax.softmax_cross_entropy(logits, targets)
    weight = used.astype(jnp.float32)
    loss = jnp.sum(per_example * weight) / jnp.maximum(jnp.sum(weight), 1.0)
    hits = (jnp.argmax(logits, -1) == labels).astype(jnp.float32) * weight
    return loss, ({"accuracy": jnp.sum(hits) / jnp.maximum(jnp.sum(weight), 1.0)}, new_state)
  return loss_fn


def optimizer_config(spec: Any, main_steps: int) -> ml_collections.ConfigDict:
  """The `train`-style section `make_optimizer` reads, from a `collect` section."""
  return ml_collections.ConfigDict(dict(
      lr=spec.lr, warmup_steps=min(spec.warmup_steps, main_steps), steps=main_steps,
      final_lr_ratio=spec.save_lr / spec.lr if spec.lr > 0 else 1.0,
      weight_decay=spec.weight_decay, b1=0.9, b2=0.999, clip_norm=spec.clip_norm))


def train_unit(target: Target, dataset: Dataset, tasks: Sequence[Task], task_ids: Sequence[int],
               seed: int, spec: Any, *, progress: bool = True, desc: str = "collect",
               budget_bytes: int = memory.DEFAULT_BUDGET_BYTES) -> tuple[Any, np.ndarray]:
  """Trains `tasks` together (vmap) and returns their checkpoints.

  Args:
    target: the model; its output width must equal every task's `num_outputs`.
    dataset: images and original labels.
    tasks: the tasks of this unit; task_ids: their global indices (they seed the inits unless
      `spec.shared_init`).
    seed: the training seed.
    spec: the `collect` config section (epochs, batch_size, lr, save_lr, warmup_steps,
      weight_decay, clip_norm, checkpoints, augment_shift, label_smoothing, shared_init: every
      task of a seed starts from the same initial weights, so the weights of different tasks
      are comparable unit by unit, as when all tasks are fine-tuned from one base model).
    budget_bytes: the temporary memory one vmapped step may take. When all tasks at once
      would take more, they are trained in chunks of tasks one after another; every chunk
      sees the same batches (the data order depends on the seed only), so each task gets the
      checkpoints it gets in one vmap.

  Returns:
    (variables stacked as (len(tasks) * checkpoints, ...) in task-major order,
     the step of each checkpoint (checkpoints,)).

  Raises:
    MemoryBudgetError: one task alone does not fit the budget.
  """
  x, y = dataset.x_train, dataset.y_train
  n = len(y)
  labels, used = (np.stack(a) for a in zip(*(t.relabel(y) for t in tasks)))
  steps_per_epoch = n // spec.batch_size
  main_steps = spec.epochs * steps_per_epoch
  save_batch = n // spec.checkpoints
  if steps_per_epoch < 1 or save_batch < 1:
    raise ValueError(f"{n} training examples cannot fill batch_size={spec.batch_size} or "
                     f"{spec.checkpoints} checkpoint batches")
  base = jax.random.fold_in(jax.random.key(seed), 0)
  task_keys = jnp.stack([jax.random.fold_in(base, int(i)) for i in task_ids])
  init_keys = (jnp.broadcast_to(base, task_keys.shape) if spec.shared_init else task_keys)
  init, passes = _unit_functions(target, _hashable(spec), x.shape[1:], n)
  state_shape = jax.eval_shape(init, init_keys)
  size = min(_tasks_per_call(p, state_shape, x, task_keys, budget_bytes) for p in passes)
  chunks = range(0, len(tasks), size)
  bar = progress_bar(len(chunks) * (main_steps + spec.checkpoints), 0, desc, progress)
  try:
    parts = [_train_tasks(passes, size, init(init_keys[c:c + size]), x, labels[c:c + size],
                          used[c:c + size], task_keys[c:c + size], seed, spec, bar)
             for c in chunks]
  finally:
    bar.close()
  stacked = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *parts)
  return stacked, main_steps + 1 + np.arange(spec.checkpoints)


def _hashable(spec: Any) -> tuple:
  """The `collect` section as sorted (key, value) pairs, lists made tuples."""
  return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in spec.items()))


@functools.lru_cache(maxsize=8)
def _unit_functions(target: Target, spec_items: tuple, image_shape: tuple,
                    n: int) -> tuple[Callable, tuple["_Pass", "_Pass"]]:
  """(init: keys (T,) -> states, (training epoch pass, final pass)) for a target and a
  `collect` section; cached, so the units of a zoo (same shapes, other tasks or seeds)
  trace and compile them once."""
  spec = ml_collections.ConfigDict(dict(spec_items))
  steps_per_epoch = n // spec.batch_size
  tx, _ = make_optimizer(optimizer_config(spec, spec.epochs * steps_per_epoch))

  def init_state(key):
    params, model_state = split_variables(target.init(key, jnp.zeros((1,) + image_shape)))
    return TrainState.create(params, tx, model_state=model_state)

  vstep = jax.vmap(make_train_step(classification_loss(target, spec.label_smoothing), tx,
                                   stateful=True), in_axes=(0, (None, 0, 0), 0))
  return jax.jit(jax.vmap(init_state)), (
      _Pass(_scanned_steps(vstep, False), spec.batch_size, steps_per_epoch),
      _Pass(_scanned_steps(vstep, True), n // spec.checkpoints, spec.checkpoints))


class _Pass(NamedTuple):
  """A scanned pass over `steps` batches of `batch` examples (`_scanned_steps`)."""
  run: Callable
  batch: int
  steps: int

  def signature(self, state: Any, x: np.ndarray, task_keys: jax.Array) -> memory.Signature:
    """Its arguments (state, (images (S, B, ...), labels (T, S, B), used (T, S, B)), keys),
    chunked along the tasks (T)."""
    t, s, b = len(task_keys), self.steps, self.batch
    shapes = (state, (jax.ShapeDtypeStruct((s, b) + x.shape[1:], x.dtype),
                      jax.ShapeDtypeStruct((t, s, b), np.int32),
                      jax.ShapeDtypeStruct((t, s, b), np.bool_)), task_keys)
    return memory.signature(shapes, (0, (None, 0, 0), 0))


def _tasks_per_call(one_pass: _Pass, state: Any, x: np.ndarray, task_keys: jax.Array,
                    budget: int) -> int:
  """How many tasks one call of the pass may train at once (all when they fit).

  state: abstract, leading axis T."""
  (size,) = memory.plan_chunks(one_pass.run, one_pass.signature(state, x, task_keys),
                               (len(task_keys),), int(budget),
                               what="one training step of one task (collect)",
                               key=f"{memory.BUDGET_KEY} or lower config.collect.batch_size")
  return size


def _scanned_steps(vstep, keep_variables: bool):
  """(state, (images (S, B, ...), labels (T, S, B), used (T, S, B)), keys) -> (state, every
  step's variables (S, T, ...) if `keep_variables`, else its losses (S, T)): S steps in one
  compiled call, so a small model's step is not paced by Python."""
  def run(state, batches, keys):
    images, labels, used = batches

    def one(state, batch):
      state, metrics = vstep(state, batch, keys)
      kept = {"params": state.params, **state.model_state} if keep_variables else metrics["loss"]
      return state, kept
    steps = (images, jnp.swapaxes(labels, 0, 1), jnp.swapaxes(used, 0, 1))
    return jax.lax.scan(one, state, steps)
  return jax.jit(run, donate_argnums=(0,))


def _train_tasks(passes: tuple[_Pass, _Pass], size: int, state: Any, x: np.ndarray,
                 labels: np.ndarray, used: np.ndarray, task_keys: jax.Array, seed: int,
                 spec: Any, bar) -> Any:
  """Trains one chunk of a unit's tasks from `state` (leading axis T = len(labels)), one
  compiled call per epoch; `passes` = (training epoch, final pass keeping every step).

  Returns the checkpoints stacked (T * checkpoints, ...), task-major.
  """
  n = len(x)
  data_rng = np.random.default_rng([seed, 1])  # fresh per chunk: every chunk, the same batches

  def executable(one_pass):  # the one the plan compiled, for a chunk of the planned size
    if len(task_keys) != size:
      return one_pass.run
    return memory.compiled(one_pass.run, one_pass.signature(state, x, task_keys), (size,))

  runs = {one_pass: executable(one_pass) for one_pass in passes}

  def call(one_pass, state):
    """One pass over a fresh permutation, batches drawn exactly as one at a time."""
    order, parts = data_rng.permutation(n), []
    for b in range(one_pass.steps):
      idx = np.sort(order[b * one_pass.batch:(b + 1) * one_pass.batch])
      parts.append((shift_images(x[idx], spec.augment_shift, data_rng), labels[:, idx],
                    used[:, idx]))
    images, lab, use = (np.stack(a) for a in zip(*parts))
    batches = (images, np.swapaxes(lab, 0, 1).astype(np.int32), np.swapaxes(use, 0, 1))
    return runs[one_pass](state, batches, task_keys)

  train, keep = passes
  for _ in range(spec.epochs):
    state, losses = call(train, state)
    bar.update(train.steps)
    bar.set_postfix_str(f"loss={float(jnp.mean(losses[-1])):.3g}", refresh=False)
  state, snapshots = call(keep, state)  # the final pass at save_lr: each step a checkpoint
  bar.update(keep.steps)
  return jax.tree_util.tree_map(lambda a: np.swapaxes(np.asarray(a), 0, 1).reshape(
      (-1,) + a.shape[2:]), snapshots)


def evaluate_unit(target: Target, dataset: Dataset, tasks: Sequence[Task], stacked: Any,
                  per_task: int, *,
                  budget_bytes: int = memory.DEFAULT_BUDGET_BYTES) -> dict[str, np.ndarray]:
  """Train, val and test accuracy (percent) of every checkpoint of a unit (task-major order).

  budget_bytes: the temporary memory one chunk of predictions may take (`predict_many`).
  """
  out = {}
  for split in ("train", "val", "test"):
    x, y = dataset.split(split)
    labels, used = (np.repeat(np.stack(a), per_task, axis=0)
                    for a in zip(*(t.relabel(y) for t in tasks)))
    predictions = predict_many(target.apply, stacked, x, budget_bytes=budget_bytes)
    out[split] = accuracy(correct_matrix(predictions, labels, used), used)
  return out


def _refuse_nonfinite(stacked: Any, tasks: Sequence[Task], per_task: int, unit: str) -> None:
  bad = np.flatnonzero(nonfinite_sets(stacked))
  if bad.size:
    raise NonFiniteError(
        f"collect: unit {unit}, task {tasks[bad[0] // per_task].name} diverged (non-finite "
        f"weights in {bad.size} checkpoint(s)); lower collect.lr or raise collect.clip_norm")


def collect_zoo(zoo_dir: str, target: Target, dataset: Dataset, tasks: Sequence[Task],
                splits: dict[str, str], spec: Any, *, progress: bool = True,
                budget_bytes: int = memory.DEFAULT_BUDGET_BYTES) -> dict:
  """Collects every (seed, unit of tasks) not yet complete in `zoo_dir`; returns timings.

  A unit on disk whose completion record is missing or does not match its rows or arrays is
  collected again (with a one-line warning naming it).
  """
  done = store.completed_units(zoo_dir, verify_arrays=True)
  present = set(store.rows_by_unit(store.read_manifest(zoo_dir)))
  units = [(seed, start) for seed in spec.seeds
           for start in range(0, len(tasks), spec.tasks_per_unit)]
  trained, seconds = 0, 0.0
  for number, (seed, start) in enumerate(units):
    unit = f"seed{seed}_tasks{start:05d}"
    if unit in done:
      continue
    if unit in present:
      print(f"warning: zoo unit {os.path.join(zoo_dir, store.UNITS, unit)} is incomplete or "
            "altered; collecting it again", file=sys.stderr)
    unit_tasks = tasks[start:start + spec.tasks_per_unit]
    began = time.perf_counter()
    stacked, steps = train_unit(target, dataset, unit_tasks,
                                range(start, start + len(unit_tasks)), seed, spec,
                                progress=progress, desc=f"collect {number + 1}/{len(units)}",
                                budget_bytes=budget_bytes)
    _refuse_nonfinite(stacked, unit_tasks, spec.checkpoints, unit)
    acc = evaluate_unit(target, dataset, unit_tasks, stacked, spec.checkpoints,
                        budget_bytes=budget_bytes)
    rows = [{"id": f"{unit}/{i}", "task": task.name, "split": splits[task.name],
             "condition": task.condition, "seed": int(seed), "step": int(steps[k]),
             "train_acc": float(acc["train"][i]), "val_acc": float(acc["val"][i]),
             "test_acc": float(acc["test"][i])}
            for i, (task, k) in enumerate((t, k) for t in unit_tasks
                                          for k in range(spec.checkpoints))]
    store.write_unit(zoo_dir, unit, stacked, rows)
    trained += len(unit_tasks)
    seconds += time.perf_counter() - began
  return {"units": len(units), "tasks_trained": trained, "seconds": round(seconds, 3)}
