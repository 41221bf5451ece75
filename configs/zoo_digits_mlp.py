"""Zoo: the digits MLP (64-128-10) on the full 10-class task, 50 checkpoints (RPG's recipe).

COMMAND (collect + report, about a minute on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_mlp.py --workdir=runs/zoo_digits_mlp
Smoke size (tests):
  python launch/main.py --config=configs/zoo_digits_mlp.py:smoke --workdir=runs/zoo_smoke

The full-task zoo recipe of configs/rpg_convnext.py with the MLP's schedule from
bench/targets.py (`ZOO` and its `FAMILIES` row): 60 epochs at lr 2e-3, no pixel shifts.
"""

from paramgen_jax.configs import rpg_convnext


def get_config(arg=None):
  return rpg_convnext.full_task_zoo("mlp", arg)
