"""Data-conditioned mapping on binary codes far from every seen code, each task's model trained
from its own initialization: the mapping's default recipe (configs/mapping_unseen_binary.py)
on the `far` zoo of configs/zoo_digits_binary.py (12 unseen codes, each 3 bits from its
nearest seen code; 477 seen tasks).

COMMAND:
  python launch/main.py --config=configs/mapping_far_binary.py --workdir=runs/mapping_far_binary
Smoke size (tests):
  python launch/main.py --config=configs/mapping_far_binary.py:smoke --workdir=runs/mapping_far_smoke

On the default split every task starts from one shared initialization and every unseen code
has a seen code 1 bit away, so averaging the nearest seen checkpoints already reaches 0.99 of
the originals. Here neither holds: the k-nearest soup and the regression average networks
from different initializations, and a generator must map a code it has not met near to
weights. Presets: `direct` (the MLP decoder without the regression), `hybrid_conv` (the
paper's decoder).
"""

from paramgen_jax.configs import mapping_unseen_binary, zoo_digits_binary
from paramgen_jax import configlib

PRESETS = {
    "smoke": mapping_unseen_binary.PRESETS["smoke"],
    "default": {},
    "direct": mapping_unseen_binary.PRESETS["direct"],
    "hybrid_conv": mapping_unseen_binary.PRESETS["hybrid_conv"],
}


def get_config(arg=None):
  zoo = zoo_digits_binary.get_config("far_smoke" if arg == "smoke" else "far")
  return configlib.build({**zoo.to_dict(), **mapping_unseen_binary.METHOD}, PRESETS, arg)
