"""RPG conditioned on binary codes far from every seen code, each task's model trained from its
own initialization: RPG's unseen-task recipe (configs/rpg_unseen_binary.py) on the `far` zoo
of configs/zoo_digits_binary.py (12 unseen codes, each 3 bits from its nearest seen code;
477 seen tasks).

COMMAND:
  python launch/main.py --config=configs/rpg_far_binary.py --workdir=runs/rpg_far_binary
Smoke size (tests):
  python launch/main.py --config=configs/rpg_far_binary.py:smoke --workdir=runs/rpg_far_smoke

What the split asks and why: configs/mapping_far_binary.py. Presets: `layer` (RPG's own
per-layer token statistics), `ridge` (the tokens encode what a ridge regression misses).
"""

from paramgen_jax.configs import rpg_unseen_binary, zoo_digits_binary
from paramgen_jax import configlib

PRESETS = {
    "smoke": rpg_unseen_binary.PRESETS["smoke"],
    "default": {},
    "layer": rpg_unseen_binary.PRESETS["layer"],
    "ridge": rpg_unseen_binary.PRESETS["ridge"],
}


def get_config(arg=None):
  zoo = zoo_digits_binary.get_config("far_smoke" if arg == "smoke" else "far")
  return configlib.build({**zoo.to_dict(), **rpg_unseen_binary.METHOD}, PRESETS, arg)
