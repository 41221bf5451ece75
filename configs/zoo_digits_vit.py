"""Zoo: ViT-tiny on the full 10-class digits task, 50 checkpoints (RPG's recipe).

COMMAND (collect + report, a few minutes on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_vit.py --workdir=runs/zoo_digits_vit
Smoke size (tests):
  python launch/main.py --config=configs/zoo_digits_vit.py:smoke --workdir=runs/zoo_smoke

The full-task zoo recipe of configs/rpg_convnext.py with ViT-tiny's schedule from
bench/targets.py (`ZOO` and its `FAMILIES` row): 100 epochs at lr 1e-3 instead of 30 at 2e-3.
"""

from paramgen_jax.configs import rpg_convnext


def get_config(arg=None):
  return rpg_convnext.full_task_zoo("vit_tiny", arg)
