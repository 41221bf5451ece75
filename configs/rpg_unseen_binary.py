"""RPG conditioned on the task's 10-bit code: train on the seen binary digit tasks, generate
classifiers for the 20 unseen ones.

COMMAND:
  python launch/main.py --config=configs/rpg_unseen_binary.py --workdir=runs/rpg_unseen_binary
Smoke size (tests):
  python launch/main.py --config=configs/rpg_unseen_binary.py:smoke --workdir=runs/rpg_unseen_smoke
Presets (docs/methods/rpg.md has each one's result): layer (RPG's per-layer token statistics),
ridge (the tokens encode what a ridge regression from the code misses), mamba1 (the Mamba-1
backbone), far (unseen codes 3 bits from every seen code, each task trained from its own
initialization: the `far` zoo of configs/zoo_digits_binary.py; `far_smoke` for tests), e.g.
  python launch/main.py --config=configs/rpg_unseen_binary.py:ridge --workdir=runs/rpg_unseen_ridge

Default preset: the recipe of configs/rpg_convnext.py (x0-prediction, small U-Net, AdamW 3e-3)
with 16 models per step and 256 tokens per diffusion batch, 2000 steps, and every weight
coordinate z-scored over the seen models before tokenizing (RPG's per-layer statistics keep the
zoo's shared initialization in the targets and score lower on unseen tasks; the `layer` preset
is RPG's own arrangement), with the Mamba-2 backbone of configs/rpg_convnext.py (the Mamba-1
scores within a quarter point of it and trains 2 minutes longer, over the 20-minute budget;
each variant's figures: docs/methods/rpg.md). The zoo's tasks share their initial weights
(`collect.shared_init`); the `far` preset is the split where they do not, and where every
unseen code is 3 bits from the seen ones.
"""

from paramgen_jax.configs import rpg_convnext, zoo_digits_binary
from paramgen_jax import configlib

# RPG's generator (Mamba-2) conditioned on the bit vector, no permutation states.
METHOD = dict(
    method="rpg",
    tokens=dict(size=256, granularity="layer", normalization="coordinate"),
    generator=dict(rpg_convnext.GENERATOR, permutation="none", condition="bits",
                   diffusion_batch=256),
    **rpg_convnext.run_sections(steps=2000, batch_size=16),
)

SMOKE = rpg_convnext.PRESETS["smoke"]

PRESETS = {
    "smoke": SMOKE,
    "default": {},
    # RPG's own per-layer statistics
    "layer": {"tokens.normalization": "layer"},
    # the tokens encode what a ridge regression from the code (λ 100) misses
    "ridge": {"generator.residual": "ridge"},
    # the Mamba-1 backbone (the default before)
    "mamba1": rpg_convnext.ABLATIONS["mamba1"],
    "far": zoo_digits_binary.FAR,
    "far_smoke": {**SMOKE, **zoo_digits_binary.FAR},
    "paper": {**rpg_convnext.PAPER, "tokens.normalization": "layer",
              "generator.d_model": 1024, "generator.prototype_dim": 1024,
              "generator.backbone_options.d_state": 32, "train.steps": 120_000,
              "train.lr": 1e-5},
}


def get_config(arg=None):
  # The zoo: exactly configs/zoo_digits_binary.py's sections, so a collected zoo can be reused.
  zoo = zoo_digits_binary.get_config("smoke" if arg in ("smoke", "far_smoke") else None)
  return configlib.build({**zoo.to_dict(), **METHOD}, PRESETS, arg)
