"""D2NWG's per-task baselines (report.json 'task_baselines'), each a set of models scored
on the task's test split:

  nearest seen task         (unseen) the zoo models of the seen task whose support-set
                            embedding is closest (cosine) to the unseen task's
  support fine-tuned        (unseen) those models after `baselines.finetune_steps` Adam
                            steps on the unseen task's support set (its only labels)
  random init               (unseen) `generate.num_models` fresh initializations
  class-column soup         (seen and unseen) each class's output column averaged over the
                            seen heads, assembled in the task's class order (`class_column_soup`)
  k-nearest soup,           (seen and unseen) fitted on the seen tasks' weights from their
  ridge regression          support-set vectors (`eval.fitted`; k, λ by leave-one-task-out)
  VAE reconstruction        (seen) the task's last checkpoint through the VAE (stage 1's
                            ceiling; with vae.use only)
  D2NWG, k-shot support     (unseen) the models generated from k-shot support sets
  D2NWG unranked            (with the predictor) the first generate.num_models candidates
                            (these two are the sample stage's, handed to `per_task`)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paramgen_jax.eval.baselines import nearest_seen_task, reconstruction
from paramgen_jax.eval.fitted import condition_baselines
from paramgen_jax.methods.d2nwg import core, support
from paramgen_jax.zoo.accuracy import take_sets
from paramgen_jax.zoo.conditions import nearest_seen
from paramgen_jax.zoo.models import split_variables


def finetune(target: Any, stacked: Any, x: np.ndarray, y: np.ndarray, steps: int, lr: float,
             key: jax.Array) -> Any:
  """Every model of `stacked` after `steps` full-batch Adam steps of cross-entropy on
  (x (N, ...), y (N,)) in training mode; BatchNorm statistics updated as in training."""
  tx = optax.adam(lr)

  def one(variables, k):
    params, model_state = split_variables(variables)

    def step(carry, i):
      params, model_state, opt = carry

      def loss(p):
        logits, new_state = target.apply_train(p, model_state, x, jax.random.fold_in(k, i))
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new_state

      (_, new_state), grads = jax.value_and_grad(loss, has_aux=True)(params)
      updates, opt = tx.update(grads, opt, params)
      return (optax.apply_updates(params, updates), new_state, opt), None

    (params, model_state, _), _ = jax.lax.scan(step, (params, model_state, tx.init(params)),
                                               jnp.arange(steps))
    return {"params": params, **model_state}

  n = jax.tree_util.tree_leaves(stacked)[0].shape[0]
  return jax.device_get(jax.jit(jax.vmap(one))(stacked, jax.random.split(key, n)))


def random_init(target: Any, x: np.ndarray, count: int, key: jax.Array) -> Any:
  return jax.device_get(jax.vmap(lambda k: target.init(k, jnp.asarray(x[:1])))(
      jax.random.split(key, count)))


def class_column_soup(zoo: Any) -> dict[str, np.ndarray]:
  """{task: test accuracy (1,)} of a head built from the seen heads, class by class: slot j
  of the output layer of a task with classes c_0 < ... < c_{K-1} is the average over every
  seen checkpoint of its output column (and bias) for class c_j; the other leaves are the
  average of every seen checkpoint. No support set, no training: what a generator must beat
  when every unseen task is a new combination of seen classes. A class no seen task has (a
  held-out class) gets the average of every seen column. Output-layer leaves are those whose
  last axis is the tasks' class count K."""
  by_name, seen = zoo.inputs.by_name, zoo.tasks("seen")
  k = by_name[seen[0]].num_outputs
  leaves, treedef = jax.tree_util.tree_flatten(zoo.stacked)
  per_class = [np.ndim(a) >= 2 and a.shape[-1] == k for a in leaves]
  sums = [{} if c else 0.0 for c in per_class]
  counts, total = {}, 0
  for t in seen:
    rows, classes = zoo.members(t), by_name[t].condition["classes"]
    total += len(rows)
    for j, c in enumerate(classes):
      counts[c] = counts.get(c, 0) + len(rows)
    for i, leaf in enumerate(leaves):
      block = np.asarray(leaf)[rows].astype(np.float64)
      if not per_class[i]:
        sums[i] = sums[i] + block.sum(0)
        continue
      for j, c in enumerate(classes):
        sums[i][c] = sums[i].get(c, 0.0) + block[..., j].sum(0)
  found = {}
  for t in zoo.tasks("seen") + zoo.tasks("unseen"):
    classes = by_name[t].condition["classes"]
    head = [np.stack([_column(sums[i], counts, c) for c in classes], -1) if per_class[i]
            else sums[i] / total for i in range(len(leaves))]
    model = jax.tree_util.tree_unflatten(
        treedef, [h[None].astype(np.asarray(leaf).dtype) for h, leaf in zip(head, leaves)])
    found[t] = zoo.score(model, t)
  return found


def _column(sums: dict[int, np.ndarray], counts: dict[int, int], c: int) -> np.ndarray:
  """The average seen column of class c; of every class when no seen task has c."""
  if c in counts:
    return sums[c] / counts[c]
  return sum(sums.values()) / sum(counts.values())


def _task_conditions(config, generator, feats, labels, inputs, names, numbers) -> dict:
  """{task: support-set vector} for the nearest-task search: the frozen embedding (set
  encoder), else the flattened class means of the support features."""
  sets = support.support_sets(feats, labels, [inputs.by_name[t] for t in names], numbers,
                              config.support.shots, 1, config.support.seed)[:, 0]
  if config.encoder.kind == "set":
    vectors = core.embed_support(config, generator.dims, generator.aligner, sets,
                                 np.ones(sets.shape[:-1], bool))
  else:
    vectors = sets.mean(2).reshape(len(names), -1)
  return dict(zip(names, vectors))


def _reconstructed(generator: core.Generator, models: Any) -> Any:
  """`models` (stacked, the generator's architecture) through the VAE: encoded (posterior
  means) and decoded again."""
  codec, length = generator.codecs[generator.arch], generator.dims[0]
  vectors = np.asarray(jax.vmap(lambda t: codec.encode(t, 0))(models), np.float32)
  vectors = np.pad(vectors, ((0, 0), (0, length - vectors.shape[1])))
  z = core.encode_means(generator.config, generator.vae, vectors)
  z = (z - generator.scale.mean) / generator.scale.std
  return jax.device_get(jax.jit(lambda zz: core.decode_models(generator, zz))(
      jnp.asarray(z, jnp.float32)))


def per_task(config: Any, zoo: Any, generator: core.Generator, feats: np.ndarray,
             labels: np.ndarray, generated: dict[str, dict[str, Any]] | None = None) -> dict:
  """{baseline name: {task: test accuracies (K,)}} on one architecture's zoo as
  `evaluate_generated` loaded it (a ZooView; the architecture `generator` makes,
  `core.for_architecture`); `generated` ({baseline name: {task: stacked models}}, the sample
  stage's other generations) is scored too."""
  inputs = zoo.inputs
  tasks = list(dict.fromkeys(r["task"] for r in zoo.rows))
  numbers = support.task_numbers(inputs, tasks)
  seen = zoo.tasks("seen")
  b, key = config.baselines, jax.random.key(config.eval.seed)
  conditions = _task_conditions(config, generator, feats, labels, inputs, tasks, numbers)
  near, x_train = nearest_seen(conditions, seen), inputs.dataset.x_train
  found: dict[str, Any] = {"nearest seen task": nearest_seen_task(zoo, conditions),
                           "support fine-tuned": {}, "random init": {},
                           "class-column soup": class_column_soup(zoo),
                           **condition_baselines(zoo, conditions)}
  for i, t in enumerate(tasks):
    if inputs.splits[t] != "unseen":
      continue
    idx = support.support_indices(labels, inputs.by_name[t], config.support.shots,
                                  (config.support.seed, numbers[i], 0))
    y = np.repeat(np.arange(idx.shape[0]), idx.shape[1]).astype(np.int32)
    tuned = finetune(inputs.target, take_sets(zoo.stacked, zoo.members(near[t])),
                     x_train[idx.reshape(-1)], y, b.finetune_steps, b.finetune_lr,
                     jax.random.fold_in(key, i))
    found["support fine-tuned"][t] = zoo.score(tuned, t)
    found["random init"][t] = zoo.score(random_init(inputs.target, x_train,
                                                    config.generate.num_models,
                                                    jax.random.fold_in(key, 10_000 + i)), t)
  if config.vae.use:
    found["VAE reconstruction"] = reconstruction(zoo, lambda m: _reconstructed(generator, m))
  for name, by_task in (generated or {}).items():
    found[name] = {t: zoo.score(models, t) for t, models in by_task.items()}
  return found
