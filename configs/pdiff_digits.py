"""p-diff (unconditional): generate whole digits MLPs from 200 checkpoints of one training run.

COMMAND (collect the zoo if missing, train autoencoder + latent diffusion, generate, report):
  python launch/main.py --config=configs/pdiff_digits.py --workdir=runs/pdiff_digits
Smoke size (tests):
  python launch/main.py --config=configs/pdiff_digits.py:smoke --workdir=runs/pdiff_smoke
Paper recipe (p-diff's autoencoder widths and latent 128, 30k + 30k steps, ε, DDPM):
  python launch/main.py --config=configs/pdiff_digits.py:paper --workdir=runs/pdiff_paper
Quick (the notebook's default: shorter training; under 3 minutes on a CPU):
  python launch/main.py --config=configs/pdiff_digits.py:quick --workdir=runs/pdiff_quick

The zoo is p-diff's: train a model (an MLP 64-32-10 on the 10-class digits task, 40 epochs of
AdamW), then keep training at a constant small learning rate for one more epoch and save a
checkpoint after every one of its 200 steps. p-diff generates a subset of a trained network
(its last BatchNorm layers); this generates the whole 2,410-parameter network, the setting of
p-diff's issues #13/#20 (samples at chance) that latent standardization addresses.

p-diff's recipe (`METHOD`, `SMOKE`, `PAPER`): the autoencoder, diffusion, training and
sampling sections that configs/cond_pdiff_lora.py conditions on text.
"""

from paramgen_jax import configlib

ZOO = dict(
    data=dict(name="digits", seed=0, image_size=0),
    model=dict(name="mlp", options=dict(hidden=(32,))),
    tasks=dict(kind="full", num_unseen=0, split_seed=0, limit=0, pick="first", subset_k=5,
               subset_count=20, split="random", held_out_classes=(), far_radius=1),
    collect=dict(seeds=(0,), tasks_per_unit=1, epochs=40, batch_size=64, lr=3e-3, save_lr=1e-3,
                 warmup_steps=20, weight_decay=0.01, clip_norm=1.0, checkpoints=200,
                 augment_shift=0, label_smoothing=0.0, shared_init=False),
    eval=dict(noise_sigmas=(0.01, 0.05, 0.1), noise_per_sigma=50, seed=0,
              train_steps=(1, 10, 100), finetune_steps=10),
    # Temporary memory (GiB) one chunk of evaluation, generation or collection may take.
    memory=dict(budget_gb=2.0),
    mesh=dict(data=-1),
)

METHOD = dict(
    method="pdiff",
    generator=dict(normalization="task", condition="none", unseen_stats="nearest",
                   embed_dim=64, prompt_seed=0,
                   unet_encoder=(32, 64, 128), unet_decoder=(64, 32),
                   denoiser_conditioning="per_layer", zoo_size=0),
    autoencoder=dict(channels=(16, 32, 32, 32, 16), latent_dim=64, kernel=7, input_noise=1e-3,
                     latent_noise=0.1),
    autoencoder_train=configlib.train_section(steps=1500, batch_size=32, lr=1e-3,
                                              weight_decay=2e-6),
    diffusion=dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                   prediction="eps"),
    train=configlib.train_section(steps=2000, batch_size=64, lr=1e-3, weight_decay=2e-6),
    sample=dict(sampler="ddim", steps=100, eta=0.0, num_samples=1, seed=1, clip_x0=None,
                compute_dtype="float32"),
    generate=dict(num_models=50, select_split="train"),
)

SMOKE = {
    "generator.unet_encoder": (8, 16), "generator.unet_decoder": (8,),
    "autoencoder.channels": (8, 8), "autoencoder.latent_dim": 16,
    **configlib.dotted(("autoencoder_train", "train"), steps=10, batch_size=8, warmup_steps=5,
                       log_every=10, checkpoint_every=10),
    "sample.steps": 5, "generate.num_models": 4,
}
# p-diff's autoencoder widths and latent 128, 30k + 30k steps, DDPM sampling
PAPER = {"autoencoder.channels": (64, 128, 256, 256, 32), "autoencoder.latent_dim": 128,
         "autoencoder_train.steps": 30_000, "train.steps": 30_000, "sample.sampler": "ddpm"}

PRESETS = {
    "smoke": {**SMOKE, "model.options.hidden": (8,), "collect.epochs": 2,
              "collect.checkpoints": 10, "eval.noise_per_sigma": 5},
    "default": {},
    "paper": PAPER,
    # the notebook's default: shorter training, under 3 minutes on 2 CPU cores
    "quick": {"collect.checkpoints": 100, "autoencoder_train.steps": 500, "train.steps": 700,
              "generate.num_models": 20, "eval.noise_per_sigma": 10},
}


def get_config(arg=None):
  return configlib.build({**ZOO, **METHOD}, PRESETS, arg)
