"""The leaderboard: every method on the zoos it can take, one protocol, one table and figure.

COMMAND (runs each entry's default config in <workdir>/<entry>, reusing a zoo collected by an
earlier entry with the same zoo sections, then writes leaderboard.md, .json and .png):
  python launch/leaderboard.py --config=configs/leaderboard.py --workdir=runs/leaderboard
Smoke size (tests, CI; about 5 minutes on 2 CPU cores):
  python launch/leaderboard.py --config=configs/leaderboard.py:smoke \
      --workdir=runs/leaderboard_smoke
Paper recipes (GPU cluster; not run here):
  python launch/leaderboard.py --config=configs/leaderboard.py:paper \
      --workdir=runs/leaderboard_paper

Every entry is an existing config (its docstring has its recipe) at this preset, so a cell's
figures are that config's figures; `missing` says why a method has no cell on a zoo.
"""

import ml_collections

from paramgen_jax.configlib import preset

ZOOS = {
    "convnext": "ConvNeXt-mini, full task",
    "mlp": "MLP, full task",
    "binary": "binary split (1022 tasks)",
    "lora": "LoRA zoo (ViT-tiny)",
    "subsets": "5-way class subsets",
    "binary_far": "binary codes 3 bits from any seen, own inits",
    "subsets_held_out": "5-way subsets, digit 9 held out",
}

# (entry name, method, zoo, config file in configs/[, its variant: the preset run by default,
# '<variant>_smoke' at smoke size])
ENTRIES = (
    ("rpg_convnext", "RPG", "convnext", "rpg_convnext"),
    ("rpg_unseen_binary", "RPG", "binary", "rpg_unseen_binary"),
    ("pdiff_digits", "p-diff / COND P-DIFF", "mlp", "pdiff_digits"),
    ("cond_pdiff_lora", "p-diff / COND P-DIFF", "lora", "cond_pdiff_lora"),
    ("loragen_lora", "LoRAGen", "lora", "loragen_lora"),
    ("d2nwg_digits", "D2NWG", "subsets", "d2nwg_digits"),
    ("mapping_unseen_binary", "mapping", "binary", "mapping_unseen_binary"),
    ("rpg_far_binary", "RPG", "binary_far", "rpg_unseen_binary", "far"),
    ("mapping_far_binary", "mapping", "binary_far", "mapping_unseen_binary", "far"),
    ("d2nwg_held_out", "D2NWG", "subsets_held_out", "d2nwg_held_out"),
)

_ONE_TASK = ("one task: the method maps a task's condition to weights, and a zoo of one task "
             "gives it nothing to map (p-diff and RPG cover it)")
_FULL_MODELS = "LoRAGen generates LoRA factors; this zoo holds whole models"
_NO_SUPPORT_SET_RPG = ("no config: RPG has no support-set condition (D2NWG's tasks are given by "
                       "their support images)")
MISSING = (
    ("RPG", "mlp", "no config: RPG's MLP recipe is not run on p-diff's 200-checkpoint zoo"),
    ("RPG", "lora", "no config: RPG's conditions are a task code or none; no text condition "
                    "for LoRA tasks is built"),
    ("RPG", "subsets", _NO_SUPPORT_SET_RPG),
    ("p-diff / COND P-DIFF", "convnext",
     "no config: p-diff's autoencoder is sized for the 2,410-parameter MLP"),
    ("p-diff / COND P-DIFF", "binary",
     "no config: COND P-DIFF's conditions are not wired to the binary codes"),
    ("p-diff / COND P-DIFF", "subsets", "no config: no support-set condition"),
    ("LoRAGen", "convnext", _FULL_MODELS), ("LoRAGen", "mlp", _FULL_MODELS),
    ("LoRAGen", "binary", _FULL_MODELS), ("LoRAGen", "subsets", _FULL_MODELS),
    ("D2NWG", "convnext", _ONE_TASK), ("D2NWG", "mlp", _ONE_TASK),
    ("D2NWG", "binary", "no config: D2NWG's support-set encoder is built for the class-subset "
                        "tasks only"),
    ("D2NWG", "lora", "no config: D2NWG's VAE takes whole models, not adapters"),
    ("mapping", "convnext", _ONE_TASK), ("mapping", "mlp", _ONE_TASK),
    ("mapping", "lora", "no config: the mapping's arrangement is built for whole models"),
    ("mapping", "subsets", "no config: the mapping has no support-set condition"),
    ("RPG", "subsets_held_out", _NO_SUPPORT_SET_RPG),
    ("p-diff / COND P-DIFF", "binary_far",
     "no config: COND P-DIFF's conditions are not wired to the binary codes"),
    ("p-diff / COND P-DIFF", "subsets_held_out", "no config: no support-set condition"),
    ("LoRAGen", "binary_far", _FULL_MODELS), ("LoRAGen", "subsets_held_out", _FULL_MODELS),
    ("D2NWG", "binary_far", "no config: D2NWG's support-set encoder is built for the "
                            "class-subset tasks only"),
    ("mapping", "subsets_held_out", "no config: the mapping has no support-set condition"),
)


# Entries the smoke leaderboard (CI) leaves out, each with the reason its cell is empty there:
# RPG on the far-codes split runs RPG's binary-split pipeline on a zoo the mapping's smoke
# entry collects and tests, so it adds CI time and no code path.
SMOKE_LEFT_OUT = {
    "rpg_far_binary": ("RPG", "binary_far", "left out of the smoke leaderboard: the same RPG "
                                            "pipeline as the binary split, on the zoo the "
                                            "mapping's entry collects"),
}


def _entry_preset(name: str, variant: list[str]) -> str:
  """The preset an entry runs at the leaderboard's preset `name` ('' for the default)."""
  if not variant:
    return "" if name == "default" else name
  return variant[0] + ("_smoke" if name == "smoke" else "")


def get_config(arg=None):
  name = preset(arg, ("smoke", "default", "paper"))
  c = ml_collections.ConfigDict()
  c.preset = name
  c.zoos = dict(ZOOS)
  c.zoo_order = list(ZOOS)  # column order (a ConfigDict sorts its keys)
  left_out = SMOKE_LEFT_OUT if name == "smoke" else {}
  c.entries = [dict(name=n, method=m, zoo=z, config=f"configs/{f}.py",
                    preset=_entry_preset(name, variant)) for n, m, z, f, *variant in ENTRIES
               if n not in left_out]
  c.missing = [dict(method=m, zoo=z, why=why) for m, z, why in MISSING + tuple(
      left_out.values())]
  return c
