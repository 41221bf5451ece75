"""Zoo: ResNet-mini on the full 10-class digits task, 50 checkpoints (RPG's recipe).

COMMAND (collect + report, a few minutes on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_resnet_mini.py --workdir=runs/zoo_digits_resnet_mini
Smoke size (tests):
  python launch/main.py --config=configs/zoo_digits_resnet_mini.py:smoke --workdir=runs/zoo_smoke

The full-task zoo recipe of configs/rpg_convnext.py with ResNet-mini's schedule from
bench/targets.py (`ZOO` and its `FAMILIES` row): 20 epochs at lr 2e-3, ±1-pixel shifts.
BatchNorm statistics are generated too.
"""

from paramgen_jax.configs import rpg_convnext


def get_config(arg=None):
  return rpg_convnext.full_task_zoo("resnet_mini", arg)
