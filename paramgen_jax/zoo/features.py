"""A frozen feature extractor: a backbone trained once on the full task, its last hidden
layer as image features.

    target, variables = backbone(section, directory, dataset, train=True)
    feats = extract(target, variables, x)                  # (N, H, W, C) -> (N, F)
    features_dataset(dataset, target, variables)           # the same splits, x as (N, 1, 1, F)

A zoo with a `features` section is a zoo of classifier heads on these features (D2NWG's
classifier-head zoos, where the paper uses CLIP features): its data set is the features
data set, so collection, evaluation and generation see (N, 1, 1, F) inputs. The backbone is
an MLP (`zoo.models.MLP`) trained on the 10-class training split (without the examples of
the zoo's held-out classes, when `tasks.split` holds some out) and stored as a one-model
zoo in `directory` (resumable, verified like any zoo); it is never trained on a task's
relabelling, only on the digit labels, as CLIP is trained before any downstream task.
"""

from __future__ import annotations

import json
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import configlib as C
from paramgen_jax import memory
from paramgen_jax.data import Dataset
from paramgen_jax.zoo import store
from paramgen_jax.zoo import tasks as tasks_lib
from paramgen_jax.zoo.collect import collect_zoo
from paramgen_jax.zoo.models import Target, make_target

SCHEMA = {
    "hidden": C.sequence(int, 1, minimum=1),
    "epochs": C.integer(1),
    "lr": C.real(0.0, exclusive_min=True),
    "seed": C.integer(0),
}


def backbone(section: Any, directory: str, dataset: Dataset, collect_spec: Any, *,
             train: bool, budget_bytes: int = memory.DEFAULT_BUDGET_BYTES,
             held_out_classes: tuple[int, ...] = ()) -> tuple[Target, Any]:
  """(target, trained variables) of the backbone in `directory`, trained there first when
  `train` and missing (collect_spec: the zoo's `collect` section, for batch size etc.), on
  every class but `held_out_classes` (their examples are left out of its training)."""
  task = (tasks_lib.full_task(dataset.num_classes) if not held_out_classes else
          tasks_lib.subset_task([c for c in range(dataset.num_classes)
                                 if c not in held_out_classes], dataset.num_classes))
  target = make_target("mlp", task.num_outputs, hidden=tuple(section.hidden))
  identity = {"backbone": section.to_dict(),
              **({"held_out_classes": list(held_out_classes)} if held_out_classes else {})}
  if train and not store.completed_units(directory):
    spec = collect_spec.copy_and_resolve_references()
    spec.update(dict(seeds=(section.seed,), tasks_per_unit=1, epochs=section.epochs,
                     lr=section.lr, checkpoints=1, shared_init=False, augment_shift=0))
    store.write_info(directory, {"target": target.name, "role": "frozen feature extractor",
                                 **identity})
    collect_zoo(directory, target, dataset, [task], {task.name: "seen"}, spec,
                budget_bytes=budget_bytes)
  if not store.completed_units(directory):
    raise FileNotFoundError(f"no feature extractor in {directory}: run --mode=collect first")
  info, expected = store.read_info(directory) or {}, json.loads(json.dumps(identity))
  found = {key: info.get(key) for key in ("backbone", "held_out_classes") if key in info}
  if found != expected:
    raise ValueError(f"the feature extractor in {directory} was trained with {found}, the "
                     f"config has {expected}: use another --workdir")
  template = jax.eval_shape(target.init, jax.random.key(0), jnp.asarray(dataset.x_train[:1]))
  _, stacked = store.load_zoo(directory, template=template)
  return target, jax.tree_util.tree_map(lambda leaf: leaf[0], stacked)


def extract(target: Target, variables: Any, x: np.ndarray, chunk: int = 1024) -> np.ndarray:
  """Images (N, H, W, C) -> (N, F): the backbone MLP's last hidden layer (after ReLU)."""
  params = variables["params"]
  depth = len(target.module.hidden)

  @jax.jit
  def features(xs):
    h = xs.reshape(xs.shape[0], -1)
    for i in range(depth):
      layer = params[f"Dense_{i}"]
      h = jax.nn.relu(h @ layer["kernel"] + layer["bias"][None, :])
    return h

  return np.concatenate([np.asarray(features(jnp.asarray(x[i:i + chunk])))
                         for i in range(0, len(x), chunk)]).astype(np.float32)


def features_dataset(dataset: Dataset, target: Target, variables: Any) -> Dataset:
  """The data set with every split's images replaced by their features (N, 1, 1, F)."""
  as_images = lambda x: extract(target, variables, x)[:, None, None, :]
  return Dataset(f"{dataset.name}+mlp{tuple(target.module.hidden)} features",
                 as_images(dataset.x_train), dataset.y_train, as_images(dataset.x_val),
                 dataset.y_val, as_images(dataset.x_test), dataset.y_test, dataset.num_classes)
