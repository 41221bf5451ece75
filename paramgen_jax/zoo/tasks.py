"""Tasks over a 10-class data set, each with the condition a generator is given.

* `full_task`: the 10-class problem.
* `binary_tasks`: all 1022 binary relabelings — every 10-bit code but all-0 and all-1; a
  digit is positive when its bit is set (RPG's unseen-task zoo).
* `subset_tasks`: k of the 10 classes, relabeled 0..k-1, with few-shot support sets.

A task's condition holds its bit vector or class list and several natural-language
descriptions made from templates (paraphrases), for text-conditioned generators.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

BINARY_TEMPLATES = (
    "Decide whether a handwritten digit is one of {pos}.",
    "Binary classifier: answer yes for the digits {pos} and no for {neg}.",
    "Is this digit in the set {{{pos}}}?",
    "Separate the digits {pos} from the digits {neg}.",
    "Detect handwritten {pos_words} among all ten digits.",
)
SUBSET_TEMPLATES = (
    "Classify handwritten digits among {classes}.",
    "Tell apart the digits {classes}.",
    "A {k}-way classifier for the handwritten digits {classes_words}.",
)
FULL_DESCRIPTIONS = (
    "Classify handwritten digits from 0 to 9.",
    "Recognize which of the ten digits a small handwritten image shows.",
    "Ten-way classification of 8x8 handwritten digit images.",
)


@dataclasses.dataclass(frozen=True)
class Task:
  """A relabeling of the data set.

  Attributes:
    name: unique id, e.g. 'full', 'binary_0110000001', 'subset_1_3_7'.
    kind: 'full', 'binary' or 'subset'.
    label_map: per original class, its label in this task or -1 (example not used).
    num_outputs: number of task labels.
    condition: {'bits': [...]} or {'classes': [...]}, plus 'descriptions'.
  """
  name: str
  kind: str
  label_map: tuple[int, ...]
  num_outputs: int
  condition: dict

  @property
  def descriptions(self) -> tuple[str, ...]:
    return tuple(self.condition["descriptions"])

  def relabel(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Original labels (N,) -> (task labels with 0 for unused examples, used mask), int32/bool."""
    mapped = np.asarray(self.label_map, np.int32)[labels]
    return np.maximum(mapped, 0), mapped >= 0


def _join(items) -> str:
  items = [str(i) for i in items]
  return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def full_task(num_classes: int = 10) -> Task:
  return Task("full", "full", tuple(range(num_classes)), num_classes,
              {"classes": list(range(num_classes)), "descriptions": list(FULL_DESCRIPTIONS)})


def binary_task(code: int, num_classes: int = 10) -> Task:
  """Task of a code in [1, 2^num_classes - 2]: bit c of `code` says whether class c is positive."""
  if not 0 < code < 2**num_classes - 1:
    raise ValueError(f"binary task code must be in [1, {2**num_classes - 2}], got {code}")
  bits = [(code >> c) & 1 for c in range(num_classes)]
  pos = [c for c in range(num_classes) if bits[c]]
  neg = [c for c in range(num_classes) if not bits[c]]
  descriptions = [t.format(pos=_join(pos), neg=_join(neg),
                           pos_words=_join([DIGIT_NAMES[c] + "s" for c in pos]))
                  for t in BINARY_TEMPLATES]
  return Task("binary_" + "".join(map(str, bits)), "binary", tuple(bits), 2,
              {"bits": bits, "descriptions": descriptions})


def binary_tasks(num_classes: int = 10) -> list[Task]:
  """All 2^num_classes - 2 binary relabelings, ordered by code."""
  return [binary_task(code, num_classes) for code in range(1, 2**num_classes - 1)]


def subset_task(classes, num_classes: int = 10) -> Task:
  classes = sorted(int(c) for c in classes)
  label_map = [-1] * num_classes
  for i, c in enumerate(classes):
    label_map[c] = i
  descriptions = [t.format(classes=_join(classes), k=len(classes),
                           classes_words=_join([DIGIT_NAMES[c] for c in classes]))
                  for t in SUBSET_TEMPLATES]
  return Task("subset_" + "_".join(map(str, classes)), "subset", tuple(label_map), len(classes),
              {"classes": classes, "descriptions": descriptions})


def subset_tasks(k: int, count: int, seed: int, num_classes: int = 10) -> list[Task]:
  """`count` distinct k-class subsets drawn with `seed` (all of them if count is larger)."""
  every = list(itertools.combinations(range(num_classes), k))
  order = np.random.default_rng(seed).permutation(len(every))[:count]
  return [subset_task(every[i], num_classes) for i in sorted(order)]


def support_set(labels: np.ndarray, task: Task, shots: int, seed: int) -> np.ndarray:
  """Indices of `shots` examples per task class (seeded), e.g. of the training split."""
  rng = np.random.default_rng(seed)
  chosen = []
  for c, task_label in enumerate(task.label_map):
    if task_label < 0:
      continue
    members = np.flatnonzero(labels == c)
    if members.size < shots:
      raise ValueError(f"class {c} has {members.size} examples, fewer than {shots} shots")
    chosen.append(rng.choice(members, shots, replace=False))
  return np.sort(np.concatenate(chosen))


def spread_sample(tasks: list[Task], count: int, seed: int) -> list[Task]:
  """`count` tasks drawn with `seed` (all when fewer), in the input order: unlike the first
  `count`, which share their high bits, a draw makes every class positive in some tasks and
  negative in others (`class_coverage` says whether it did)."""
  keep = set(np.random.default_rng([seed, count]).permutation(len(tasks))[:count].tolist())
  return [t for i, t in enumerate(tasks) if i in keep]


def class_coverage(tasks: list[Task], num_classes: int = 10) -> np.ndarray:
  """(num_classes, 2) int: per class, in how many tasks it is negative (label 0) / positive."""
  counts = np.zeros((num_classes, 2), np.int64)
  for t in tasks:
    for c, label in enumerate(t.label_map[:num_classes]):
      if label in (0, 1):
        counts[c, label] += 1
  return counts


def split_seen_unseen(tasks: list[Task], num_unseen: int, seed: int) -> tuple[list, list]:
  """Seeded split into (seen, unseen) task lists, each in the input order."""
  if not 0 <= num_unseen <= len(tasks):
    raise ValueError(f"num_unseen must be in [0, {len(tasks)}], got {num_unseen}")
  unseen = set(np.random.default_rng(seed).permutation(len(tasks))[:num_unseen].tolist())
  return ([t for i, t in enumerate(tasks) if i not in unseen],
          [t for i, t in enumerate(tasks) if i in unseen])


def split_held_out_classes(tasks: list[Task], classes, num_unseen: int,
                           seed: int) -> tuple[list, list]:
  """(seen, unseen): the seen tasks use none of `classes`; `num_unseen` tasks drawn with
  `seed` among those that use at least one of them are unseen; the rest are in neither list.
  A generator (and any baseline built from seen weights) has never met a held-out class."""
  held = {int(c) for c in classes}
  if not held or not held < set(range(len(tasks[0].label_map))):
    raise ValueError(f"held-out classes must be some of 0..{len(tasks[0].label_map) - 1}, "
                     f"got {sorted(held)}")
  uses = [any(t.label_map[c] >= 0 for c in held) for t in tasks]
  candidates = [t for t, u in zip(tasks, uses) if u]
  seen = [t for t, u in zip(tasks, uses) if not u]
  if not seen or not 0 < num_unseen <= len(candidates):
    raise ValueError(f"holding out classes {sorted(held)} leaves {len(seen)} seen tasks and "
                     f"{len(candidates)} that use them; num_unseen must be in "
                     f"[1, {len(candidates)}] (got {num_unseen}) with at least one seen task")
  return seen, spread_sample(candidates, num_unseen, seed)


def hamming(a: Task, b: Task) -> int:
  """Number of classes on which two binary tasks disagree."""
  return sum(x != y for x, y in zip(a.condition["bits"], b.condition["bits"]))


def split_far_codes(tasks: list[Task], num_unseen: int, radius: int,
                    seed: int) -> tuple[list, list]:
  """(seen, unseen) binary tasks: `num_unseen` codes drawn with `seed`, each more than
  `radius` bits from the codes drawn before it, are unseen; every code within `radius` bits
  of an unseen one is in neither list, so each unseen code's nearest seen code is `radius`+1
  bits away (today's random split leaves it 1 bit away)."""
  order = np.random.default_rng(seed).permutation(len(tasks))
  centres: list[Task] = []
  for i in order:
    if len(centres) == num_unseen:
      break
    if all(hamming(tasks[i], c) > radius for c in centres):
      centres.append(tasks[i])
  seen = [t for t in tasks if all(hamming(t, c) > radius for c in centres)]
  if len(centres) < num_unseen or not seen:
    raise ValueError(f"cannot place {num_unseen} unseen codes {radius + 1} bits apart with "
                     f"seen codes left over ({len(centres)} placed, {len(seen)} seen)")
  names = {c.name for c in centres}
  return seen, [t for t in tasks if t.name in names]
