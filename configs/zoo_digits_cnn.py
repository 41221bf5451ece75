"""Zoo: the digits CNN (two conv-BatchNorm blocks, dense head) on the full 10-class task,
50 checkpoints (RPG's recipe).

COMMAND (collect + report, about a minute on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_cnn.py --workdir=runs/zoo_digits_cnn
Smoke size (tests):
  python launch/main.py --config=configs/zoo_digits_cnn.py:smoke --workdir=runs/zoo_smoke

The full-task zoo recipe of configs/rpg_convnext.py (`ZOO` and its `FAMILIES` row: 30 epochs
at lr 2e-3, ±1-pixel shifts, the CNN's schedule in bench/targets.py). BatchNorm statistics are
generated too.
"""

from paramgen_jax.configs import rpg_convnext


def get_config(arg=None):
  return rpg_convnext.full_task_zoo("cnn", arg)
