"""Zoo: ResNet-mini on the full 10-class digits task, 50 checkpoints (RPG's recipe).

COMMAND (collect + report, a few minutes on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_resnet_mini.py --workdir=runs/zoo_digits_resnet_mini
Smoke size (tests):
  python launch/main.py --config=configs/zoo_digits_resnet_mini.py:smoke --workdir=runs/zoo_smoke

The recipe of configs/zoo_digits_convnext.py with ResNet-mini's schedule from
bench/targets.py: 20 epochs at lr 2e-3, ±1-pixel shifts. BatchNorm statistics are generated too.
"""

from configs import zoo_digits_convnext
from paramgen_jax.configlib import preset


def get_config(arg=None):
  smoke = preset(arg) == "smoke"
  c = zoo_digits_convnext.get_config(arg)
  c.model = dict(name="resnet_mini", options=dict(widths=(4, 8)) if smoke else dict())
  c.collect.epochs = 2 if smoke else 20
  return c
