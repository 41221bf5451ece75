"""Binary-zoo collection: all tasks in one vmapped run against a per-task Python loop.

  python bench/zoo_vmap.py [--loop-tasks 16]

Uses the recipe of configs/zoo_digits_binary.py (1022 tasks × 3 checkpoints). The vmapped
path is `zoo.collect.train_unit` on every task at once, compilation included. The loop
path trains `--loop-tasks` tasks one after another with one jitted (non-vmapped) step
compiled once, the same steps and batches per task, and is extrapolated to all tasks.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from paramgen_jax import data  # noqa: E402
from paramgen_jax.configlib import load_config  # noqa: E402
from paramgen_jax.train import TrainState, make_optimizer, make_train_step  # noqa: E402
from paramgen_jax.zoo import collect  # noqa: E402
from paramgen_jax.zoo.models import make_target, split_variables  # noqa: E402
from paramgen_jax.zoo.tasks import binary_tasks  # noqa: E402

def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--loop-tasks", type=int, default=16)
  args = parser.parse_args()
  config = load_config("zoo_digits_binary")
  s = config.collect
  dataset = data.load_digits(seed=config.data.seed)
  target = make_target(config.model.name, 2, **dict(config.model.options))
  tasks = binary_tasks()

  start = time.perf_counter()
  stacked, _ = collect.train_unit(target, dataset, tasks, range(len(tasks)), 0, s, progress=False)
  jax.block_until_ready(stacked)
  vmap_seconds = time.perf_counter() - start

  x, y = dataset.x_train, dataset.y_train
  n = len(y)
  steps_per_epoch, save_batch = n // s.batch_size, n // s.checkpoints
  tx, _ = make_optimizer(collect.optimizer_config(s, s.epochs * steps_per_epoch))
  step = jax.jit(make_train_step(collect.classification_loss(target, s.label_smoothing), tx,
                                 stateful=True), donate_argnums=(0,))

  def train_one(task, index):
    labels, used = task.relabel(y)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(0), 0), index)
    params, model_state = split_variables(target.init(key, jnp.asarray(x[:1])))
    state = TrainState.create(params, tx, model_state=model_state)
    rng = np.random.default_rng([0, 1])
    snapshots = []
    for batch_size, count in [(s.batch_size, steps_per_epoch)] * s.epochs + [
        (save_batch, s.checkpoints)]:
      order = rng.permutation(n)
      for b in range(count):
        idx = np.sort(order[b * batch_size:(b + 1) * batch_size])
        state, _ = step(state, (x[idx], labels[idx], used[idx]), key)
        if batch_size == save_batch:
          snapshots.append(jax.device_get(state.params))
    return snapshots

  train_one(tasks[0], 0)  # compile both batch shapes once
  start = time.perf_counter()
  for i in range(args.loop_tasks):
    train_one(tasks[i], i)
  per_task = (time.perf_counter() - start) / args.loop_tasks
  print(json.dumps({
      "bench": "zoo_vmap", "device": jax.devices()[0].device_kind, "tasks": len(tasks),
      "checkpoints_per_task": s.checkpoints, "steps_per_task": s.epochs * steps_per_epoch
      + s.checkpoints, "vmap_all_tasks_s": round(vmap_seconds, 2),
      "loop_per_task_s": round(per_task, 3), "loop_tasks_timed": args.loop_tasks,
      "loop_all_tasks_extrapolated_s": round(per_task * len(tasks), 1),
      "speedup": round(per_task * len(tasks) / vmap_seconds, 1)}))


if __name__ == "__main__":
  main()
