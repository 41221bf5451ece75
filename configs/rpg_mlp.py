"""RPG on the digits MLP (64-128-10) zoo: collect (if missing), train, generate 10 models, report.

COMMAND:
  python launch/main.py --config=configs/rpg_mlp.py --workdir=runs/rpg_mlp
Smoke size (tests):
  python launch/main.py --config=configs/rpg_mlp.py:smoke --workdir=runs/rpg_mlp_smoke
Paper recipe (GPU cluster):
  python launch/main.py --config=configs/rpg_mlp.py:paper --workdir=runs/rpg_mlp_paper

The generator, diffusion, training and sampling sections are configs/rpg_convnext.py's (same
presets and recipe: `rpg_on`); the zoo sections are configs/zoo_digits_mlp.py's (its
`FAMILIES` row), so a collected zoo can be reused.
"""

from paramgen_jax.configs import rpg_convnext


def get_config(arg=None):
  return rpg_convnext.rpg_on("mlp", arg)
