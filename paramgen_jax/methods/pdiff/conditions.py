"""COND P-DIFF's task conditions: what the latent denoiser is told about the task.

Kinds (the paper's Table 4b, plus its image-feature condition):
  'onehot'            the task's one-hot vector over the seen tasks (fixed)
  'learned'           a learnable vector per seen task (an embedding table; the model holds it)
  'text_description'  MiniLM embedding of the task description ("task info")
  'text'              MiniLM embedding of the description plus two examples (the default:
                      "task info + few-shot"); the examples are one positive and one negative
                      digit for a binary task, chosen with a seed per task
  'data'              a frozen encoder's features averaged over the task's training images,
                      one mean per task label, concatenated (the LoRA base model's class token)
Only 'text_description', 'text' and 'data' describe a task the generator has not seen.

The generator learns its tasks from the conditions themselves (`seen_tasks`: checkpoints with
equal conditions form one task) and picks each generated model's normalization statistics
from them (`stats_rows`: its own task's, or for a new condition the nearest seen task's).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax.zoo.conditions import text_conditions
from paramgen_jax.zoo.tasks import Task

CONDITIONS = ("none", "onehot", "learned", "text_description", "text", "data")
DESCRIBING = ("text_description", "text", "data")  # conditions that carry to unseen tasks


def data_conditions(tasks: Sequence[Task], features_fn: Callable[[jax.Array], jax.Array],
                    x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> np.ndarray:
  """(len(tasks), num_outputs * F): per task label, the mean feature of its images.

  features_fn: frozen encoder, images (B, ...) -> features (B, F); x, y: images and original
  labels (the training split).
  """
  feats = np.concatenate([np.asarray(features_fn(jnp.asarray(x[i:i + batch_size])))
                          for i in range(0, len(x), batch_size)])
  out = []
  for task in tasks:
    labels, used = task.relabel(y)
    out.append(np.concatenate([feats[used & (labels == k)].mean(0)
                               for k in range(task.num_outputs)]))
  return np.stack(out).astype(np.float32)


def condition_vectors(kind: str, tasks: Sequence[Task], seen: Sequence[str], *, seed: int = 0,
                      features_fn: Callable | None = None, data: Any = None) -> dict[str, Any]:
  """Task name -> what the denoiser receives for `kind`: a vector, or for 'learned' the
  task's index among `seen` (an int). Tasks outside `seen` are left out for 'onehot' and
  'learned' (they cannot describe a new task)."""
  if kind == "none":
    return {t.name: None for t in tasks}
  if kind in ("onehot", "learned"):
    index = {name: i for i, name in enumerate(seen)}
    return {t.name: (np.int32(index[t.name]) if kind == "learned" else
                     np.eye(len(seen), dtype=np.float32)[index[t.name]])
            for t in tasks if t.name in index}
  if kind in ("text", "text_description"):
    vectors = text_conditions(tasks, with_examples=kind == "text", seed=seed)
  elif kind == "data":
    if features_fn is None or data is None:
      raise ValueError("the 'data' condition needs a frozen encoder and the training images")
    vectors = data_conditions(tasks, features_fn, *data)
  else:
    raise ValueError(f"condition must be one of {CONDITIONS}, got {kind!r}")
  return dict(zip((t.name for t in tasks), vectors))


def seen_tasks(conditions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Per-checkpoint conditions (N, ...) -> (seen (T, ...), task_ids (N,) int32): checkpoints
  with equal conditions form one task, tasks in order of first appearance (a zoo's rows
  follow its manifest, so that is the manifest's order of tasks)."""
  conditions = np.asarray(conditions)
  flat = conditions.reshape(len(conditions), -1)
  _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
  rank = np.empty(len(first), np.int32)
  rank[np.argsort(first)] = np.arange(len(first))  # np.unique sorts rows; undo it
  return conditions[np.sort(first)], rank[np.ravel(inverse)]


def _flat(conditions: jax.Array) -> jax.Array:
  return jnp.reshape(conditions, (conditions.shape[0], -1)).astype(jnp.float32)


def equal_rows(seen: jax.Array, conditions: jax.Array) -> jax.Array:
  """(M, T) bool: condition m of `conditions` (M, ...) equals seen row t of `seen` (T, ...).
  Traceable."""
  return jnp.all(_flat(conditions)[:, None] == _flat(seen)[None], axis=-1)


def stats_rows(seen: jax.Array, conditions: jax.Array) -> jax.Array:
  """(M,) int32: for each condition of `conditions` (M, ...), the row of `seen` (T, ...)
  equal to it, else the row nearest by cosine (an unseen task borrows the statistics of
  the seen task it resembles most). Traceable."""
  seen_flat, flat = _flat(seen), _flat(conditions)
  equal = equal_rows(seen, conditions)
  unit = lambda a: a / jnp.maximum(jnp.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
  nearest = jnp.argmax(unit(flat) @ unit(seen_flat).T, axis=-1)
  return jnp.where(equal.any(-1), jnp.argmax(equal, -1), nearest).astype(jnp.int32)
