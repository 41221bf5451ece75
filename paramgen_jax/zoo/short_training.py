"""A few steps of the zoo's own recipe from given weights: what a generated model saves.

    found = train_steps(target, dataset, tasks, starts, collect_spec, (1, 10, 100), seed=0)
    found[10]    # every task's variables after 10 steps, stacked (T, ...)

The optimizer and its learning-rate schedule are the zoo's (`collect.optimizer_config` of
the `collect` section: the first steps of the zoo's own warmup), batches of
`collect.batch_size` training examples drawn per step with fold_in(key, step), the task's
labels (examples of classes outside a subset task are masked, as in collection). All tasks
train together (vmap); their starts are stacked variables, one per task: the zoo's
initialization (`recipe_start`) or generated models.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax.data import Dataset
from paramgen_jax.train.optim import make_optimizer
from paramgen_jax.train.state import TrainState
from paramgen_jax.train.step import make_train_step
from paramgen_jax.zoo.collect import classification_loss, optimizer_config
from paramgen_jax.zoo.models import split_variables
from paramgen_jax.zoo.tasks import Task


def recipe_start(target: Any, dataset: Dataset, count: int, seed: int) -> Any:
  """`count` copies of the initialization a zoo with `collect.shared_init` starts every task
  of seed `seed` from (the zoo's own base key), stacked (count, ...)."""
  base = jax.random.fold_in(jax.random.key(seed), 0)
  variables = target.init(base, jnp.zeros((1,) + dataset.x_train.shape[1:]))
  return jax.tree_util.tree_map(lambda a: np.repeat(np.asarray(a)[None], count, 0), variables)


def train_steps(target: Any, dataset: Dataset, tasks: Sequence[Task], starts: Any, spec: Any,
                steps: Sequence[int], seed: int = 0) -> dict[int, Any]:
  """{s: the variables of every task after s steps (stacked (T, ...))} for each s of
  `steps`, every task trained from its row of `starts` (stacked (T, ...)) with the `collect`
  section `spec`'s recipe."""
  x, y = dataset.x_train, dataset.y_train
  labels, used = (np.stack(a) for a in zip(*(t.relabel(y) for t in tasks)))
  main_steps = spec.epochs * (len(y) // spec.batch_size)
  tx, _ = make_optimizer(optimizer_config(spec, main_steps))
  step_fn = make_train_step(classification_loss(target, spec.label_smoothing), tx,
                            stateful=True)
  marks = sorted(set(int(s) for s in steps))
  key = jax.random.key(seed)

  def one_task(start, task_labels, task_used):
    params, model_state = split_variables(start)
    state = TrainState.create(params, tx, model_state=model_state)

    def step(state, i):
      pick = jax.random.randint(jax.random.fold_in(key, i), (spec.batch_size,), 0, len(y))
      batch = (jnp.asarray(x)[pick], task_labels[pick], task_used[pick])
      state, _ = step_fn(state, batch, key)
      return state, None

    kept, done = [], 0
    for mark in marks:
      state, _ = jax.lax.scan(step, state, jnp.arange(done, mark))
      kept.append({"params": state.params, **state.model_state})
      done = mark
    return kept

  found = jax.jit(jax.vmap(one_task))(starts, jnp.asarray(labels), jnp.asarray(used))
  return {mark: jax.device_get(variables) for mark, variables in zip(marks, found)}
