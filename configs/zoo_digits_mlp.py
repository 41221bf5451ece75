"""Zoo: the digits MLP (64-128-10) on the full 10-class task, 50 checkpoints (RPG's recipe).

COMMAND (collect + report, about a minute on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_mlp.py --workdir=runs/zoo_digits_mlp
Smoke size (tests):
  python launch/main.py --config=configs/zoo_digits_mlp.py:smoke --workdir=runs/zoo_smoke

The recipe of configs/zoo_digits_convnext.py with the MLP's schedule from bench/targets.py:
60 epochs at lr 2e-3, no pixel shifts.
"""

from configs import zoo_digits_convnext
from paramgen_jax.configlib import preset


def get_config(arg=None):
  smoke = preset(arg) == "smoke"
  c = zoo_digits_convnext.get_config(arg)
  c.model = dict(name="mlp", options=dict(hidden=(16,) if smoke else (128,)))
  c.collect.epochs = 2 if smoke else 60
  c.collect.augment_shift = 0
  return c
