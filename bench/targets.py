"""Parameter count and digits test accuracy of every target model, with its recipe.

  python bench/targets.py [--only vit_tiny]

Each target is trained on the full 10-class task (train split), as zoo collection does it
(`zoo.collect.train_unit`, one checkpoint), and scored on the test split. Prints one JSON
line per target.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from paramgen_jax import data  # noqa: E402
from paramgen_jax.zoo.collect import evaluate_unit, train_unit  # noqa: E402
from paramgen_jax.zoo.models import make_target  # noqa: E402
from paramgen_jax.zoo.tasks import full_task  # noqa: E402

COMMON = dict(seeds=(0,), tasks_per_unit=1, batch_size=64, save_lr=1e-5, warmup_steps=50,
              weight_decay=0.05, clip_norm=1.0, checkpoints=1, label_smoothing=0.0,
              shared_init=False)
RECIPES = {  # name: (model options, epochs, lr, ±pixel shift augmentation)
    "mlp": (dict(hidden=(128,)), 60, 2e-3, 0),
    "cnn": (dict(), 30, 2e-3, 1),
    "resnet_mini": (dict(), 20, 2e-3, 1),
    "convnext_mini": (dict(), 30, 2e-3, 1),
    "vit_tiny": (dict(), 100, 1e-3, 1),
}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", default=None, choices=sorted(RECIPES))
  args = parser.parse_args()
  dataset = data.load_digits()
  task = full_task()
  for name, (options, epochs, lr, shift) in RECIPES.items():
    if args.only and name != args.only:
      continue
    target = make_target(name, 10, **options)
    spec = ml_collections.ConfigDict(dict(COMMON, epochs=epochs, lr=lr, augment_shift=shift))
    start = time.perf_counter()
    stacked, _ = train_unit(target, dataset, [task], [0], 0, spec, progress=False)
    seconds = time.perf_counter() - start
    acc = evaluate_unit(target, dataset, [task], stacked, 1)
    params = sum(int(np.prod(a.shape[1:])) for a in jax.tree_util.tree_leaves(stacked["params"]))
    print(json.dumps({"target": name, "params": params, "options": options, "epochs": epochs,
                      "lr": lr, "shift": shift, "train_s": round(seconds, 1),
                      "val_acc": round(float(acc["val"][0]), 2),
                      "test_acc": round(float(acc["test"][0]), 2)}), flush=True)


if __name__ == "__main__":
  main()
