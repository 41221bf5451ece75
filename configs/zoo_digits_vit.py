"""Zoo: ViT-tiny on the full 10-class digits task, 50 checkpoints (RPG's recipe).

COMMAND (collect + report, a few minutes on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_vit.py --workdir=runs/zoo_digits_vit
Smoke size (tests):
  python launch/main.py --config=configs/zoo_digits_vit.py:smoke --workdir=runs/zoo_smoke

The recipe of configs/zoo_digits_convnext.py with ViT-tiny's schedule from bench/targets.py:
100 epochs at lr 1e-3 instead of 30 at 2e-3.
"""

from configs import zoo_digits_convnext
from paramgen_jax.configlib import preset


def get_config(arg=None):
  smoke = preset(arg) == "smoke"
  c = zoo_digits_convnext.get_config(arg)
  c.model = dict(name="vit_tiny",
                 options=dict(dim=16, depth=1, heads=2, mlp_dim=32) if smoke else dict())
  c.collect.epochs = 2 if smoke else 100
  c.collect.lr = 1e-3
  return c
