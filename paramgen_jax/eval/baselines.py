"""Baselines every generator is compared with: the model soup and noised originals (every
report), and the per-task baselines conditional methods share (`nearest_seen_task`,
`reconstruction`), computed on the `eval.entry.ZooView` that `evaluate_generated` loaded."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from paramgen_jax import params as P
from paramgen_jax.zoo.accuracy import take_sets
from paramgen_jax.zoo.conditions import nearest_seen
from paramgen_jax.zoo.short_training import recipe_start, train_steps


def soup(stacked: Any) -> Any:
  """Weight average of a stack (S, ...) -> (1, ...); integer leaves are taken from the first."""
  def average(a):
    a = np.asarray(a)
    return (a.mean(0, keepdims=True).astype(a.dtype) if np.issubdtype(a.dtype, np.floating)
            else a[:1])
  return jax.tree_util.tree_map(average, stacked)


def noised(picked: Any, layout: P.ParamLayout, stats: P.LayerStats, sigma: float,
           key: jax.Array) -> Any:
  """Every model of `picked` (S, ...) with N(0, σ²) added in the normalized space.

  Leaves the layout keeps constant (integer counters) come back as the layout's template.

  Args:
    picked: the originals to perturb, stacked.
    layout, stats: the zoo's layout and per-layer statistics (`params.fit_layer_stats`).
    sigma: noise std in normalized units.
    key: PRNG key.
  """
  vectors = jax.vmap(layout.to_vector)(picked)
  z = jax.vmap(lambda v: P.normalize_layers(v, stats, layout))(vectors)
  z = z + sigma * jax.random.normal(key, z.shape, z.dtype)
  back = jax.vmap(lambda v: P.denormalize_layers(v, stats, layout))(z)
  return jax.tree_util.tree_map(np.asarray, jax.vmap(layout.from_vector)(back))


def stacked_vectors(stacked: Any, layout: P.ParamLayout) -> np.ndarray:
  """(S, num_params) float32 parameter vectors of a stack."""
  return np.asarray(jax.vmap(layout.to_vector)(stacked), np.float32)


def nearest_seen_task(zoo: Any, conditions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """{unseen task: test accuracies (K,) of the zoo models of the seen task whose condition is
  nearest (cosine)}: what a generator for an unseen task must beat without generating.

  zoo: an `eval.entry.ZooView`; conditions: {task: condition vector} for the seen and
  unseen tasks (those without one are skipped).
  """
  seen = [t for t in zoo.tasks("seen") if t in conditions]
  unseen = [t for t in zoo.tasks("unseen") if t in conditions]
  if not seen or not unseen:
    return {}
  near = nearest_seen({t: conditions[t] for t in seen + unseen}, seen)
  return {t: zoo.score(take_sets(zoo.stacked, zoo.members(near[t])), t) for t in unseen}


def reconstruction(zoo: Any, reconstruct: Any) -> dict[str, np.ndarray]:
  """{seen task: test accuracy (1,) of its last checkpoint passed through `reconstruct`}:
  the autoencoder's own error, the floor under what its decoder can generate.

  reconstruct: stacked models (S, ...) -> the same models encoded and decoded (S, ...).
  """
  seen = zoo.tasks("seen")
  if not seen:
    return {}
  last = np.asarray([zoo.members(t)[-1] for t in seen])
  rebuilt = reconstruct(take_sets(zoo.stacked, last))
  return {t: zoo.score(take_sets(rebuilt, [j]), t) for j, t in enumerate(seen)}


def short_training(zoo: Any, collect: Any, eval_spec: Any,
                   generated: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
  """{'init + s steps' for s in eval.train_steps, 'generated + f steps' (f =
  eval.finetune_steps): {unseen task: test accuracy (1,)}}: the zoo's recipe (`collect`)
  run for s steps on each unseen task's training data from the zoo's initialization, and
  for f steps from the task's first generated model; what generating saves, and what the
  generated model is worth as a starting point. {} without unseen generated tasks or steps.

  zoo: the `eval.entry.ZooView`; generated: {task: stacked generated models}.
  """
  unseen = [t for t in zoo.tasks("unseen") if t in generated]
  steps, finetune = tuple(eval_spec.get("train_steps", ())), eval_spec.get("finetune_steps", 0)
  if not unseen or not (steps or finetune):
    return {}
  target, dataset = zoo.inputs.target, zoo.inputs.dataset
  tasks = [zoo.inputs.by_name[t] for t in unseen]

  def scored(stacked):
    return {t: zoo.score(take_sets(stacked, [j]), t) for j, t in enumerate(unseen)}

  found = {}
  if steps:
    starts = recipe_start(target, dataset, len(tasks), int(collect.seeds[0]))
    trained = train_steps(target, dataset, tasks, starts, collect, steps, eval_spec.seed)
    found |= {f"init + {s} step{'s' * (s > 1)}": scored(trained[s]) for s in sorted(trained)}
  if finetune:
    firsts = jax.tree_util.tree_map(lambda *a: np.concatenate(a),
                                    *[take_sets(generated[t], [0]) for t in unseen])
    tuned = train_steps(target, dataset, tasks, firsts, collect, (finetune,), eval_spec.seed)
    found[f"generated + {finetune} step{'s' * (finetune > 1)}"] = scored(tuned[finetune])
  return found
