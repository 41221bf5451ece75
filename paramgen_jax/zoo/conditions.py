"""What a generator is told about a task, as vectors: its bit code or its text.

  bit_conditions(tasks)                       (len(tasks), 10) the binary code (RPG's 'bits')
  text_conditions(tasks, with_examples=...)   (len(tasks), 384) MiniLM embeddings of the task's
                                              first description, optionally followed by two
                                              labelled examples (COND P-DIFF's few-shot prompt)
  description_conditions(tasks)               (len(tasks), 384) MiniLM embeddings averaged over
                                              all of a task's descriptions (LoRAGen's condition)
  nearest_seen(conditions, seen)              each task's seen task of most similar condition
"""

from __future__ import annotations

import zlib
from typing import Any, Mapping, Sequence

import numpy as np

from paramgen_jax.zoo.tasks import DIGIT_NAMES, Task


def bit_conditions(tasks: Sequence[Task]) -> np.ndarray:
  """(len(tasks), num_classes) float32: each binary task's bit vector."""
  missing = [t.name for t in tasks if "bits" not in t.condition]
  if missing:
    raise ValueError(f"the 'bits' condition needs binary tasks; {missing[0]} has no bit code")
  return np.stack([np.asarray(t.condition["bits"], np.float32) for t in tasks])


def few_shot_examples(task: Task, seed: int, shots: int = 2) -> list[tuple[int, int]]:
  """`shots` (digit, task label) pairs with distinct labels where possible, seeded per task."""
  rng = np.random.default_rng([seed, zlib.crc32(task.name.encode())])
  by_label: dict[int, list[int]] = {}
  for digit, label in enumerate(task.label_map):
    if label >= 0:
      by_label.setdefault(label, []).append(digit)
  labels = sorted(by_label)
  picked = []
  for i in range(shots):
    label = labels[i % len(labels)]
    picked.append((int(rng.choice(by_label[label])), label))
  return picked


def _answer(task: Task, label: int) -> str:
  if task.kind == "binary":
    return "yes" if label == 1 else "no"
  return f"class {label}"


def task_prompt(task: Task, *, with_examples: bool, seed: int = 0) -> str:
  """The text a task is conditioned on: its first description, then (optionally) examples."""
  text = task.descriptions[0]
  if not with_examples:
    return text
  shots = "; ".join(f"a handwritten {DIGIT_NAMES[d]} ({d}) -> {_answer(task, label)}"
                    for d, label in few_shot_examples(task, seed))
  return f"{text} Examples: {shots}."


def text_conditions(tasks: Sequence[Task], *, with_examples: bool, seed: int = 0,
                    encoder: Any = None) -> np.ndarray:
  """(len(tasks), 384) unit MiniLM embeddings of the task prompts (one encoder batch)."""
  if encoder is None:
    from paramgen_jax.text import TextEncoder  # loads MiniLM only when text is asked for
    encoder = TextEncoder()
  return np.asarray(encoder([task_prompt(t, with_examples=with_examples, seed=seed)
                             for t in tasks]), np.float32)


def description_conditions(tasks: Sequence[Task], encoder: Any = None) -> np.ndarray:
  """(len(tasks), 384) float32: per task, the mean of its descriptions' unit MiniLM
  embeddings (LoRAGen averages the embeddings of up to 20 paraphrases)."""
  if encoder is None:
    from paramgen_jax.text import TextEncoder  # loads MiniLM only when text is asked for
    encoder = TextEncoder()
  texts = [d for t in tasks for d in t.descriptions]
  vectors = np.asarray(encoder(texts), np.float32)
  bounds = np.cumsum([0] + [len(t.descriptions) for t in tasks])
  return np.stack([vectors[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])


def nearest_seen(conditions: Mapping[str, np.ndarray], seen: Sequence[str]) -> dict[str, str]:
  """For every task, the seen task with the most similar condition (cosine); seen tasks map
  to themselves. Used to pick per-task normalization statistics for unseen tasks."""
  names = list(conditions)
  table = np.stack([conditions[n] for n in seen]).astype(np.float64)
  table /= np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)
  out = {}
  for name in names:
    if name in seen:
      out[name] = name
      continue
    v = np.asarray(conditions[name], np.float64)
    out[name] = seen[int(np.argmax(table @ (v / max(np.linalg.norm(v), 1e-12))))]
  return out
