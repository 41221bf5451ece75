"""Every method speaks the one protocol (`paramgen_jax.protocol`) on a user's Flax model with
awkward leaves: an embedding table, BatchNorm statistics, a bfloat16 kernel and an empty
sub-dict. train -> generate -> jit(generate) -> save -> load in a fresh process -> generate:
trees, shapes and dtypes equal to the originals', finite values, the same bytes after
loading, and generated models that classify within 5 points of the originals."""

import functools
import importlib
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from paramgen_jax.integrity import tree_checksum
from tests.helpers import REPO

METHODS = ("rpg", "pdiff", "loragen", "d2nwg", "mapping")
TASKS, SEEDS, POINTS = 4, 4, 256


class Awkward(nn.Module):
  """A classifier of points (x, token) with every kind of leaf a user's model may have."""

  @nn.compact
  def __call__(self, x, token, train: bool = False):
    h = jnp.concatenate([x, nn.Embed(4, 3, name="embed")(token)], -1)
    h = nn.Dense(16, param_dtype=jnp.bfloat16, dtype=jnp.float32, name="hidden")(h)
    h = nn.BatchNorm(use_running_average=not train, momentum=0.9, name="norm")(h)
    return nn.Dense(2, name="head")(nn.relu(h))


def task_data(task: int, key):
  """Points of task `task`: the label is the side of a line through 0 at angle task·π/4."""
  kx, kt = jax.random.split(key)
  x = jax.random.normal(kx, (POINTS, 2))
  token = jax.random.randint(kt, (POINTS,), 0, 4)
  angle = task * jnp.pi / TASKS
  y = (x @ jnp.stack([jnp.cos(angle), jnp.sin(angle)]) > 0).astype(jnp.int32)
  return x, token, y


def train_one(task, key):
  model, tx = Awkward(), optax.adam(0.03)
  x, token, y = task_data(task, jax.random.key(100))
  variables = model.init(key, x, token)

  def step(carry, _):
    params, stats, opt = carry

    def loss(p):
      logits, new = model.apply({"params": p, "batch_stats": stats}, x, token, train=True,
                                mutable=["batch_stats"])
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new
    grads, new = jax.grad(loss, has_aux=True)(params)
    updates, opt = tx.update(grads, opt)
    return (optax.apply_updates(params, updates), new["batch_stats"], opt), None

  carry = (variables["params"], variables["batch_stats"], tx.init(variables["params"]))
  params, stats, _ = jax.lax.scan(step, carry, None, length=150)[0]
  return {"params": {**params, "unused": {}}, "batch_stats": stats}


def accuracy(variables, task):
  x, token, y = task_data(task, jax.random.key(200))
  used = {"params": {k: v for k, v in variables["params"].items() if k != "unused"},
          "batch_stats": variables["batch_stats"]}
  return jnp.mean(Awkward().apply(used, x, token).argmax(-1) == y)


@functools.lru_cache(maxsize=1)
def zoo():
  """(stacked (16, ...), task of each model (16,)): 4 seeds of each of 4 tasks."""
  tasks = np.repeat(np.arange(TASKS), SEEDS)
  keys = jax.random.split(jax.random.key(1), len(tasks))
  stacked = jax.vmap(train_one)(jnp.asarray(tasks), keys)
  return jax.device_get(stacked), tasks


def onehot(tasks):
  return np.eye(TASKS, dtype=np.float32)[tasks]


def d2nwg_conditions(method, tasks):
  """D2NWG's conditions: support sets of each model's task (points and labels as features)."""
  return method.support_conditions(*support_sets(tasks))


def support_sets(tasks, shots: int = 5, draws: int = 2):
  """(task of each model (N,), support (T, R, 2, K, F) features per class, mask (T, R, 2, K))."""
  per_task = []
  for task in range(TASKS):
    x, token, y = task_data(task, jax.random.key(300 + task))
    feats = np.concatenate([np.asarray(x), np.asarray(token)[:, None] / 4.0], 1)
    draws_of_task = []
    for r in range(draws):
      by_class = [feats[np.asarray(y) == c][r * shots:(r + 1) * shots] for c in (0, 1)]
      draws_of_task.append(np.stack(by_class))
    per_task.append(np.stack(draws_of_task))
  support = np.stack(per_task).astype(np.float32)
  return np.asarray(tasks), support, np.ones(support.shape[:-1], bool)


CONDITIONS = {"d2nwg": d2nwg_conditions}


def conditions_for(name, method, tasks):
  return CONDITIONS.get(name, lambda _, t: onehot(t))(method, tasks)


def structure(tree):
  return (jax.tree_util.tree_structure(tree),
          [(np.shape(a), jnp.asarray(a).dtype) for a in jax.tree_util.tree_leaves(tree)])


def _fresh_process_checksum(name, path, conditions_path, num_models):
  code = (
      "import sys, jax, numpy as np\n"
      f"from paramgen_jax.methods import {name} as m\n"
      "from paramgen_jax.integrity import tree_checksum\n"
      f"g = m.load({path!r})\n"
      f"c = dict(np.load({conditions_path!r}))\n"
      "c = None if not c else (c['c'] if list(c) == ['c'] else c)\n"
      f"out = jax.jit(m.generate, static_argnames='num_models')(g, jax.random.key(7), c, "
      f"num_models={num_models})\n"
      "print(tree_checksum(out))\n")
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["PYTHONPATH"] = REPO
  found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=600)
  assert found.returncode == 0, found.stderr[-3000:]
  return found.stdout.strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.parametrize("name", METHODS)
def test_the_user_loop_on_an_awkward_model(name, tmp_path):
  method = importlib.import_module(f"paramgen_jax.methods.{name}")
  stacked, tasks = zoo()
  originals = np.mean([accuracy(jax.tree_util.tree_map(lambda a: a[i], stacked), t)
                       for i, t in enumerate(tasks)])
  generator = method.train(stacked, method.small_config(),
                           conditions=conditions_for(name, method, tasks))

  per_task = 2
  wanted = np.repeat(np.arange(TASKS), per_task)
  conditions = conditions_for(name, method, wanted)
  generate = jax.jit(method.generate, static_argnames="num_models")
  models = generate(generator, jax.random.key(7), conditions, num_models=len(wanted))
  eager = method.generate(generator, jax.random.key(7), conditions, len(wanted))

  one = jax.tree_util.tree_map(lambda a: a[0], stacked)
  assert structure(jax.tree_util.tree_map(lambda a: a[0], models)) == structure(one)
  assert all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree_util.tree_leaves(models)
             if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating))
  np.testing.assert_allclose(
      np.concatenate([np.ravel(np.asarray(a, np.float32)) for a in jax.tree_util.tree_leaves(eager)]),
      np.concatenate([np.ravel(np.asarray(a, np.float32)) for a in jax.tree_util.tree_leaves(models)]),
      rtol=2e-2, atol=2e-2)
  generated = np.mean([accuracy(jax.tree_util.tree_map(lambda a: a[i], models), t)
                       for i, t in enumerate(wanted)])
  assert generated >= originals - 0.05, (name, generated, originals)

  path = str(tmp_path / "generator")
  method.save(generator, path)
  conditions_path = str(tmp_path / "conditions.npz")
  if conditions is None:
    np.savez(conditions_path)
  elif isinstance(conditions, dict):
    np.savez(conditions_path, **conditions)
  else:
    np.savez(conditions_path, c=conditions)
  assert _fresh_process_checksum(name, path, conditions_path, len(wanted)) == tree_checksum(models)


@pytest.mark.parametrize("name", METHODS)
def test_generate_refuses_bad_conditions_and_counts_in_one_line(name):
  method = importlib.import_module(f"paramgen_jax.methods.{name}")
  assert callable(method.generate)
  with pytest.raises(ValueError, match="num_models"):
    method.generate(None, jax.random.key(0), None, 0)
