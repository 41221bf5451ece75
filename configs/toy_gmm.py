"""Diffusion on a 1-D Gaussian mixture: the smallest complete paramgen_jax pipeline.

COMMAND (default, about a minute on 2 CPU cores):
  python launch/main.py --config=configs/toy_gmm.py --workdir=runs/toy_gmm
Smoke test size:
  python launch/main.py --config=configs/toy_gmm.py:smoke --workdir=runs/toy_gmm_smoke
Any field can be overridden, e.g. --config.sample.sampler=ddpm --config.train.steps=500.
"""

from paramgen_jax import configlib

BASE = dict(
    method="toy_gmm",
    data=dict(means=(-2.0, 2.0), stds=(0.3, 0.3), weights=(0.3, 0.7), num_points=20_000, seed=0),
    model=dict(hidden=128, depth=3),
    diffusion=dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                   prediction="eps"),
    train=configlib.train_section(steps=3000, batch_size=256, lr=3e-3, warmup_steps=50,
                                  final_lr_ratio=0.05, ema_decay=0.99, log_every=50,
                                  checkpoint_every=500),
    sample=dict(sampler="ddim", steps=60, eta=0.0, num_samples=10_000, seed=1, clip_x0=None,
                compute_dtype="float32"),
    mesh=dict(data=-1),
)

PRESETS = {
    "smoke": {"model.hidden": 32, "model.depth": 1, "train.steps": 200, "train.ema_decay": 0.0,
              "train.checkpoint_every": 100, "sample.steps": 20, "sample.num_samples": 1000},
    "default": {},
}


def get_config(arg=None):
  return configlib.build(BASE, PRESETS, arg)
