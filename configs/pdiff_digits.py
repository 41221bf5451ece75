"""p-diff (unconditional): generate whole digits MLPs from 200 checkpoints of one training run.

COMMAND (collect the zoo if missing, train autoencoder + latent diffusion, generate, report):
  python launch/main.py --config=configs/pdiff_digits.py --workdir=runs/pdiff_digits
Smoke size (tests):
  python launch/main.py --config=configs/pdiff_digits.py:smoke --workdir=runs/pdiff_smoke
Paper recipe (p-diff's autoencoder widths and latent 128, 30k + 30k steps, ε, DDPM):
  python launch/main.py --config=configs/pdiff_digits.py:paper --workdir=runs/pdiff_paper

The zoo is p-diff's: train a model (an MLP 64-32-10 on the 10-class digits task, 40 epochs of
AdamW), then keep training at a constant small learning rate for one more epoch and save a
checkpoint after every one of its 200 steps. p-diff generates a subset of a trained network
(its last BatchNorm layers); this generates the whole 2,410-parameter network, the setting of
p-diff's issues #13/#20 (samples at chance) that latent standardization addresses.
"""

from configs import cond_pdiff_lora, zoo_digits_convnext
from paramgen_jax.configlib import preset


def get_config(arg=None):
  name = preset(arg, ("smoke", "default", "paper"))
  smoke = name == "smoke"
  c = zoo_digits_convnext.get_config("smoke" if smoke else None)  # data, full task, mesh
  c.method = "pdiff"
  c.model = dict(name="mlp", options=dict(hidden=(8,) if smoke else (32,)))
  c.collect.update(dict(epochs=2 if smoke else 40, lr=3e-3, save_lr=1e-3, warmup_steps=20,
                        weight_decay=0.01, checkpoints=10 if smoke else 200, augment_shift=0))
  c.eval.noise_per_sigma = 5 if smoke else 50
  c.generator = dict(normalization="task", condition="none", embed_dim=64, prompt_seed=0,
                     unet_encoder=(8, 16) if smoke else (32, 64, 128),
                     unet_decoder=(8,) if smoke else (64, 32), denoiser_conditioning="per_layer",
                     zoo_size=0)
  cond_pdiff_lora.shared_sections(c, name, ae_steps=1500, steps=2000)
  c.generate.num_models = 4 if smoke else 50
  return c
