"""Zoo: ConvNeXt-mini on the full 10-class digits task, 50 checkpoints (RPG's recipe).

COMMAND (collect + report, a few minutes on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_convnext.py --workdir=runs/zoo_digits_convnext
Smoke size (tests):
  python launch/main.py --config=configs/zoo_digits_convnext.py:smoke --workdir=runs/zoo_smoke

Recipe: 30 epochs of AdamW (lr 2e-3, warm-up 50 steps, cosine down to 1e-5, weight decay
0.05, ±1-pixel shifts), then one pass at 1e-5 over the training set cut into 50 batches,
saving after each one.

The same recipe makes the other full-task zoos (configs/zoo_digits_{vit,mlp,cnn,resnet_mini}.py
and the RPG configs on them): its table, `ZOO` and `FAMILIES` (what each target family
changes, with the schedules of bench/targets.py), is in configs/rpg_convnext.py, next to the
RPG recipe that trains on these zoos.
"""

from paramgen_jax.configs import rpg_convnext


def get_config(arg=None):
  return rpg_convnext.full_task_zoo("convnext_mini", arg)
