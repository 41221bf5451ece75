"""The zoo sections of a config, as a library: schema, checks, inputs, loading, collection.

    zoo = zoo_sections(config)                        # only the sections of ZOO_SCHEMA
    inputs = build_zoo_inputs(zoo, workdir)           # ZooInputs(target, dataset, tasks, splits)
    rows, stacked = load_checked_zoo(zoo, workdir, split="seen", inputs=inputs)
    collect_zoo_from_config(zoo, workdir)             # zoo/ (and base/ for LoRA zoos)

The functions here take the zoo sections and nothing else (a whole run config is refused),
so what a zoo depends on reads off `ZOO_SCHEMA`. Every method that works on a digits zoo
puts `ZOO_SCHEMA` in its schema and calls `validate_zoo`; `zoo_identity` /
`check_zoo_info` keep a zoo collected for other sections from serving this config.

LoRA zoos (an `adapter` section): collection first trains the base model on the full task
(stored in workdir/base/, a one-checkpoint zoo, resumable like any zoo), then the zoo's
checkpoints are only the adapters and task head of `model` with LoRA, on the frozen base.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Mapping, NamedTuple

import jax
import ml_collections

from paramgen_jax import configlib as C
from paramgen_jax import data as data_lib
from paramgen_jax import memory
from paramgen_jax.data import Dataset
from paramgen_jax.errors import ZooMismatchError
from paramgen_jax.integrity import atomic_write_json
from paramgen_jax.zoo import features as features_lib
from paramgen_jax.zoo import lora, store
from paramgen_jax.zoo import tasks as tasks_lib
from paramgen_jax.zoo.collect import collect_zoo
from paramgen_jax.zoo.models import LORA_TARGETS, MODELS, make_target
from paramgen_jax.zoo.tasks import Task

ADAPTER_SCHEMA = {
    "rank": C.integer(1),
    "alpha": C.real(0.0, exclusive_min=True),
    "targets": C.Field((tuple, list), lambda v: len(v) > 0 and set(v) <= set(LORA_TARGETS),
                       f"must be a non-empty list of {', '.join(LORA_TARGETS)}"),
    "base_epochs": C.integer(1),
    "base_lr": C.real(0.0, exclusive_min=True),
    "base_seed": C.integer(0),
}

ZOO_SCHEMA = {
    "data": {"name": C.string(), "seed": C.integer(0), "image_size": C.integer(0)},
    "model": {"name": C.one_of(*sorted(MODELS)), "options": C.Field((Mapping,))},
    "tasks": {
        "kind": C.one_of("full", "binary", "subset"),
        "num_unseen": C.integer(0),
        "split_seed": C.integer(0),
        "limit": C.integer(0),
        "pick": C.one_of("first", "random"),
        "subset_k": C.integer(2, 9),
        "subset_count": C.integer(1),
        # 'random': num_unseen tasks drawn at random; 'held_out_classes': unseen tasks use a
        # class no seen task (nor a head zoo's feature extractor) uses; 'far_codes': unseen
        # binary codes more than far_radius bits from every seen code
        "split": C.one_of("random", "held_out_classes", "far_codes"),
        "held_out_classes": C.sequence(int, 0, minimum=0),
        "far_radius": C.integer(1),
    },
    "collect": {
        "seeds": C.sequence(int, 1, minimum=0),
        "tasks_per_unit": C.integer(1),
        "epochs": C.integer(1),
        "batch_size": C.integer(1),
        "lr": C.real(0.0, exclusive_min=True),
        "save_lr": C.real(0.0, exclusive_min=True),
        "warmup_steps": C.integer(0),
        "weight_decay": C.real(0.0),
        "clip_norm": C.real(0.0),
        "checkpoints": C.integer(1),
        "augment_shift": C.integer(0),
        "label_smoothing": C.real(0.0, 1.0, exclusive_max=True),
        "shared_init": C.boolean(),
    },
    "adapter": C.optional_section(ADAPTER_SCHEMA),
    "features": C.optional_section(features_lib.SCHEMA),
    "memory": C.MEMORY_SCHEMA,
    "eval": {"noise_sigmas": C.sequence(float, 0, minimum=0.0), "noise_per_sigma": C.integer(1),
             "seed": C.integer(0), "train_steps": C.sequence(int, 0, minimum=1),
             "finetune_steps": C.integer(0)},
}
ZOO_SECTIONS = tuple(ZOO_SCHEMA)


def zoo_sections(config: Any) -> ml_collections.ConfigDict:
  """The sections of a run config that say what its zoo is and how it is scored
  (`ZOO_SECTIONS`; an optional section the config lacks is None), locked."""
  zoo = ml_collections.ConfigDict({name: config.get(name) for name in ZOO_SECTIONS})
  zoo.lock()
  return zoo


def _only_zoo(zoo: Any) -> Any:
  """`zoo`, after checking it holds the zoo sections only (`zoo_sections`' result)."""
  other = sorted(set(zoo.keys()) - set(ZOO_SECTIONS))
  if other:
    raise TypeError(f"zoo.spec takes the zoo sections only (zoo_sections(config)); this one "
                    f"also has {', '.join(other)}")
  return zoo


def validate_zoo(zoo: Any) -> None:
  """Cross-field checks of the zoo sections."""
  _only_zoo(zoo)
  C.require(zoo.tasks.kind != "full" or zoo.tasks.num_unseen == 0, "tasks.num_unseen",
            "must be 0 for the single full task")
  C.require(zoo.get("adapter") is None or zoo.model.name == "vit_tiny", "adapter",
            f"LoRA adapters need model.name = 'vit_tiny', got {zoo.model.name!r}")
  C.require(zoo.get("features") is None or zoo.get("adapter") is None, "features",
            "a zoo is of heads on frozen features or of LoRA adapters, not both")
  t = zoo.tasks
  C.require(t.split != "far_codes" or t.kind == "binary", "tasks.split",
            f"'far_codes' needs tasks.kind = 'binary', got {t.kind!r}")
  C.require(t.split != "held_out_classes" or t.kind == "subset", "tasks.split",
            f"'held_out_classes' needs tasks.kind = 'subset', got {t.kind!r}")
  C.require((t.split == "held_out_classes") == bool(t.held_out_classes),
            "tasks.held_out_classes", "must be non-empty exactly when tasks.split is "
            f"'held_out_classes' (split {t.split!r}, classes {list(t.held_out_classes)})")


def zoo_dir(workdir: str) -> str:
  """Where a workdir's zoo lives."""
  return os.path.join(workdir, "zoo")


# What a zoo is *of*: a zoo collected with other values here cannot serve this zoo.
IDENTITY_KEYS = ("target", "model", "data", "tasks", "adapter", "features")


def zoo_identity(zoo: Any, target: Any) -> dict:
  """The zoo.json entries a zoo collected for the zoo sections `zoo` has (JSON-normalized)."""
  _only_zoo(zoo)
  adapter, tasks, feats = zoo.get("adapter"), zoo.tasks.to_dict(), zoo.get("features")
  if tasks.get("pick") == "first":  # zoos collected before the option existed stay valid
    del tasks["pick"]
  if tasks.get("split") == "random":  # the same, for the split options
    for key in ("split", "held_out_classes", "far_radius"):
      tasks.pop(key, None)
  return json.loads(json.dumps({
      "target": target.name, "model": zoo.model.to_dict(), "data": zoo.data.to_dict(),
      "tasks": tasks, "adapter": None if adapter is None else adapter.to_dict(),
      "features": None if feats is None else feats.to_dict()}))


def check_zoo_info(zoo: Any, directory: str, target: Any) -> None:
  """Raises ZooMismatchError (one line) unless `directory/zoo.json` fits the sections `zoo`."""
  info = store.read_info(directory)
  if info is None:
    raise ZooMismatchError(f"zoo {directory} has no zoo.json, so it cannot be checked against "
                           "the config: run --mode=collect, or use another --workdir")
  expected = zoo_identity(zoo, target)
  for key in IDENTITY_KEYS:
    if info.get(key) != expected[key]:
      raise ZooMismatchError(
          f"zoo {directory} was collected for {key} = {json.dumps(info.get(key))}, the config "
          f"has {json.dumps(expected[key])}: use another --workdir, or remove {directory}")


def manifest_splits(workdir: str) -> dict[str, str]:
  """{task: 'seen' | 'unseen'} for the zoo's tasks in manifest order: the order in which
  methods give tasks their keys (a re-collected unit moves its rows to the end)."""
  return {r["task"]: r["split"] for r in store.read_manifest(zoo_dir(workdir))}


def model_template(target: Any, dataset: Any) -> Any:
  """ShapeDtypeStructs of one model's variables: the layout every zoo checkpoint must have."""
  return jax.eval_shape(target.init, jax.random.key(0), jax.numpy.asarray(dataset.x_train[:1]))


def load_checked_zoo(zoo: Any, workdir: str, *, split: str | None = None,
                     inputs: ZooInputs | None = None) -> tuple[list[dict], Any]:
  """The zoo's (rows, stacked variables) after checking zoo.json against the sections `zoo`
  and every checkpoint against the target's layout (`inputs`: `build_zoo_inputs`' result, if
  at hand)."""
  inputs = inputs or build_zoo_inputs(zoo, workdir)
  directory = zoo_dir(workdir)
  if not store.read_manifest(directory):
    raise FileNotFoundError(f"no zoo in {directory}: run --mode=collect first")
  check_zoo_info(zoo, directory, inputs.target)
  return store.load_zoo(directory, split=split,
                        template=model_template(inputs.target, inputs.dataset))


def base_dir(workdir: str) -> str:
  """Where a LoRA zoo's base model lives."""
  return os.path.join(workdir, "base")


def backbone_dir(workdir: str) -> str:
  """Where a head zoo's frozen feature extractor lives."""
  return os.path.join(workdir, "backbone")


def copy_zoo(source: str, workdir: str) -> None:
  """Copies a collected zoo, with its LoRA base model or feature extractor, from the workdir
  `source` into `workdir` (what is already there is kept). A run of a config with the same
  zoo sections then finds every unit complete; its collect stage checks zoo.json."""
  for where in (zoo_dir, base_dir, backbone_dir):
    src, dst = where(source), where(workdir)
    if os.path.isdir(src) and not os.path.exists(dst):
      shutil.copytree(src, dst)


def base_variables(zoo: Any, workdir: str, dataset, train_base: bool) -> Any:
  """The trained base model of a LoRA zoo (trained here when `train_base` and missing)."""
  _only_zoo(zoo)
  a, directory = zoo.adapter, base_dir(workdir)
  base = make_target(zoo.model.name, dataset.num_classes, **dict(zoo.model.options))
  if train_base and not store.completed_units(directory):
    spec = zoo.collect.copy_and_resolve_references()
    spec.update(dict(seeds=(a.base_seed,), tasks_per_unit=1, epochs=a.base_epochs,
                     lr=a.base_lr, checkpoints=1, shared_init=False))
    task = tasks_lib.full_task(dataset.num_classes)
    store.write_info(directory, {"target": base.name, "role": "LoRA base model"})
    collect_zoo(directory, base, dataset, [task], {task.name: "seen"}, spec,
                budget_bytes=memory.budget_bytes(zoo.get("memory")))
  if not store.completed_units(directory):
    raise FileNotFoundError(f"no base model in {directory}: run --mode=collect first")
  rows, stacked = store.load_zoo(directory, template=model_template(base, dataset))
  return jax.tree_util.tree_map(lambda leaf: leaf[0], stacked), rows[0]


class ZooInputs(NamedTuple):
  """What a zoo is collected from: the target model, its data, the tasks (in zoo order),
  each task's split ({name: 'seen' | 'unseen'}) and, for a LoRA zoo, the frozen base model
  as (Target, trained variables) (None otherwise)."""
  target: Any
  dataset: Dataset
  tasks: list[Task]
  splits: dict[str, str]
  base: tuple[Any, Any] | None = None

  @property
  def by_name(self) -> dict[str, Task]:
    return {task.name: task for task in self.tasks}


def build_zoo_inputs(zoo: Any, workdir: str | None = None, *,
                     train_base: bool = False) -> ZooInputs:
  """The ZooInputs of the zoo sections `zoo` (`zoo_sections(config)`).

  A LoRA zoo (`adapter` section) or a head zoo (`features` section) needs `workdir` (its
  base model or feature extractor lives there); with `train_base` it is trained if missing.
  """
  _only_zoo(zoo)
  dataset = data_lib.load(zoo.data.name, seed=zoo.data.seed,
                          image_size=zoo.data.image_size or None)
  if zoo.get("features") is not None:  # a zoo of heads on a frozen feature extractor
    if workdir is None:
      raise ValueError("a zoo of heads on features needs the workdir that holds the backbone")
    backbone = features_lib.backbone(zoo.features, backbone_dir(workdir), dataset,
                                     zoo.collect, train=train_base,
                                     budget_bytes=memory.budget_bytes(zoo.get("memory")),
                                     held_out_classes=tuple(zoo.tasks.held_out_classes))
    dataset = features_lib.features_dataset(dataset, *backbone)
  t = zoo.tasks
  if t.kind == "full":
    tasks = [tasks_lib.full_task(dataset.num_classes)]
  elif t.kind == "binary":
    tasks = tasks_lib.binary_tasks(dataset.num_classes)
  else:
    tasks = tasks_lib.subset_tasks(t.subset_k, t.subset_count, t.split_seed, dataset.num_classes)
  if t.split == "held_out_classes":
    seen, unseen = tasks_lib.split_held_out_classes(tasks, t.held_out_classes, t.num_unseen,
                                                    t.split_seed)
  elif t.split == "far_codes":
    seen, unseen = tasks_lib.split_far_codes(tasks, t.num_unseen, t.far_radius, t.split_seed)
  else:
    seen, unseen = tasks_lib.split_seen_unseen(tasks, t.num_unseen, t.split_seed)
  if t.limit:  # a smaller zoo: `limit` seen tasks (the first, or drawn) and a quarter unseen
    if t.pick == "random":
      seen = tasks_lib.spread_sample(seen, t.limit, t.split_seed)
    seen, unseen = seen[:t.limit], unseen[:max(1, t.limit // 4) if unseen else 0]
  chosen = {task.name for task in seen + unseen}
  tasks = [task for task in tasks if task.name in chosen]
  splits = {task.name: "seen" for task in seen} | {task.name: "unseen" for task in unseen}
  options = dict(zoo.model.options)
  adapter = zoo.get("adapter")
  if adapter is None:
    return ZooInputs(make_target(zoo.model.name, tasks[0].num_outputs, **options), dataset,
                     tasks, splits)
  if workdir is None:
    raise ValueError("a LoRA zoo needs the workdir that holds its base model")
  base, base_row = base_variables(zoo, workdir, dataset, train_base)
  base_target = make_target(zoo.model.name, dataset.num_classes, **options)
  adapted = make_target(zoo.model.name, tasks[0].num_outputs, lora_rank=adapter.rank,
                        lora_alpha=adapter.alpha, lora_targets=tuple(adapter.targets), **options)
  if train_base:
    print(f"LoRA base model: test accuracy {base_row['test_acc']:.2f}% on the full task")
  target = lora.adapter_target(adapted, base, jax.numpy.asarray(dataset.x_train[:1]))
  return ZooInputs(target, dataset, tasks, splits, (base_target, base))


def collect_zoo_from_config(zoo: Any, workdir: str) -> None:
  """Collects (or completes) workdir/zoo for the zoo sections `zoo`; resumable."""
  _only_zoo(zoo)
  inputs = build_zoo_inputs(zoo, workdir, train_base=True)
  target, directory = inputs.target, zoo_dir(workdir)
  if store.read_manifest(directory):  # never mix checkpoints of two configs in one zoo
    check_zoo_info(zoo, directory, target)
  store.write_info(directory, {**zoo_identity(zoo, target), "num_tasks": len(inputs.tasks),
                               "dataset": inputs.dataset.summary()})
  figures = collect_zoo(directory, target, inputs.dataset, inputs.tasks, inputs.splits,
                        zoo.collect, budget_bytes=memory.budget_bytes(zoo.get("memory")))
  atomic_write_json(os.path.join(directory, "collect_timing.json"), figures)
