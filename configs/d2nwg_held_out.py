"""D2NWG on 5-way tasks that use a digit no seen task and no feature-extractor training saw:
the default recipe of configs/d2nwg_digits.py with digit 9 held out.

COMMAND:
  python launch/main.py --config=configs/d2nwg_held_out.py --workdir=runs/d2nwg_held_out
Smoke size (tests):
  python launch/main.py --config=configs/d2nwg_held_out.py:smoke --workdir=runs/d2nwg_held_out_smoke

Zoo: the 126 five-class subsets of digits 0-8 are the seen tasks; 52 of the 126 subsets that
contain 9 (seeded) are the unseen ones; the frozen feature extractor is trained on digits 0-8
only. On configs/d2nwg_digits.py every unseen task is a new combination of seen classes, so
assembling each class's average seen column (the class-column soup) reaches the originals
without a support set; here the column for 9 exists in no seen head, and only the support
set says what a 9 looks like.
"""

from paramgen_jax.configs import d2nwg_digits
from paramgen_jax import configlib

HELD_OUT = {"tasks.split": "held_out_classes", "tasks.held_out_classes": (9,),
            "tasks.num_unseen": 52}

PRESETS = {
    # 8 seen and 2 unseen tasks of the held-out split
    "smoke": {**d2nwg_digits.PRESETS["smoke"], **HELD_OUT, "tasks.subset_count": 252,
              "tasks.limit": 8},
    "default": HELD_OUT,
    "paper": {**d2nwg_digits.PRESETS["paper"], **HELD_OUT},
}


def get_config(arg=None):
  return configlib.build(d2nwg_digits.BASE, PRESETS, arg)
