"""RPG conditioned on the task's 10-bit code: train on the seen binary digit tasks, generate
classifiers for the 20 unseen ones.

COMMAND:
  python launch/main.py --config=configs/rpg_unseen_binary.py --workdir=runs/rpg_unseen_binary
Smoke size (tests):
  python launch/main.py --config=configs/rpg_unseen_binary.py:smoke --workdir=runs/rpg_unseen_smoke

Default preset: the recipe of configs/rpg_convnext.py (x0-prediction, small U-Net, AdamW 3e-3)
with 16 models per step and 256 tokens per diffusion batch, 2000 steps. The zoo's tasks share
their initial weights (`collect.shared_init`): with a different random init per task the
weights of two tasks are unrelated and no condition can predict them.
"""

from configs import rpg_convnext, zoo_digits_binary
from paramgen_jax.configlib import preset


def get_config(arg=None):
  name = preset(arg, ("smoke", "default", "paper"))
  smoke, paper = name == "smoke", name == "paper"
  # The zoo: exactly configs/zoo_digits_binary.py's sections, so a collected zoo can be reused.
  c = zoo_digits_binary.get_config("smoke" if smoke else None)
  c.method = "rpg"
  # The generator: conditioned on the bit vector, no permutation states.
  c.tokens = dict(size=64 if smoke else 256, granularity="layer")
  c.generator = dict(
      d_model=16 if smoke else (1024 if paper else 256),
      prototype_dim=16 if smoke else (1024 if paper else 256),
      prototype_hidden=0,
      backbone="mamba",
      backbone_options=dict(num_layers=1 if smoke else 2, d_state=4 if smoke else (
          32 if paper else 8), d_conv=4, expand=2, mode="scan"),
      position="2d", permutation="none", condition="bits",
      unet_encoder=(8, 16) if smoke else ((32, 64, 128) if paper else (16, 32, 64)),
      unet_decoder=(8,) if smoke else ((64, 32) if paper else (32, 16)),
      denoiser_conditioning="per_layer",  # README's figures were measured with it
      diffusion_batch=64 if smoke else 256)
  rpg_convnext.shared_sections(c, name, steps=120_000 if paper else 2000, batch_size=16,
                               lr=1e-5 if paper else 3e-3)
  return c
