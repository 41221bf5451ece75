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
The autoencoder, diffusion, training and sampling sections are configs/cond_pdiff_lora.py's.
"""

from paramgen_jax.configs import cond_pdiff_lora
from paramgen_jax import configlib

ZOO = dict(
    data=dict(name="digits", seed=0, image_size=0),
    model=dict(name="mlp", options=dict(hidden=(32,))),
    tasks=dict(kind="full", num_unseen=0, split_seed=0, limit=0, pick="first", subset_k=5,
               subset_count=20),
    collect=dict(seeds=(0,), tasks_per_unit=1, epochs=40, batch_size=64, lr=3e-3, save_lr=1e-3,
                 warmup_steps=20, weight_decay=0.01, clip_norm=1.0, checkpoints=200,
                 augment_shift=0, label_smoothing=0.0, shared_init=False),
    eval=dict(noise_sigmas=(0.01, 0.05, 0.1), noise_per_sigma=50, seed=0),
    # Temporary memory (GiB) one chunk of evaluation, generation or collection may take.
    memory=dict(budget_gb=2.0),
    mesh=dict(data=-1),
)

PRESETS = {
    "smoke": {**cond_pdiff_lora.SMOKE, "model.options.hidden": (8,), "collect.epochs": 2,
              "collect.checkpoints": 10, "eval.noise_per_sigma": 5},
    "default": {},
    "paper": cond_pdiff_lora.PAPER,
}


def get_config(arg=None):
  method = dict(cond_pdiff_lora.METHOD, generate=dict(num_models=50, select_split="train"))
  method["generator"] = dict(method["generator"], condition="none")
  return configlib.build({**ZOO, **method}, PRESETS, arg)
