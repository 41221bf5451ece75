"""Diffusion on a 1-D Gaussian mixture: the smallest complete paramgen_jax pipeline.

COMMAND (default, about a minute on 2 CPU cores):
  python launch/main.py --config=configs/toy_gmm.py --workdir=runs/toy_gmm
Smoke test size:
  python launch/main.py --config=configs/toy_gmm.py:smoke --workdir=runs/toy_gmm_smoke
Any field can be overridden, e.g. --config.sample.sampler=ddpm --config.train.steps=500.
"""

import ml_collections

from paramgen_jax.configlib import preset


def get_config(arg=None):
  smoke = preset(arg) == "smoke"
  c = ml_collections.ConfigDict()
  c.method = "toy_gmm"
  c.data = dict(means=(-2.0, 2.0), stds=(0.3, 0.3), weights=(0.3, 0.7), num_points=20_000,
                seed=0)
  c.model = dict(hidden=32 if smoke else 128, depth=1 if smoke else 3)
  c.diffusion = dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                     prediction="eps")
  c.train = dict(
      steps=200 if smoke else 3000, batch_size=256, lr=3e-3, warmup_steps=50,
      final_lr_ratio=0.05, weight_decay=0.0, b1=0.9, b2=0.999, clip_norm=1.0,
      ema_decay=0.0 if smoke else 0.99, compute_dtype="float32",
      log_every=50, checkpoint_every=100 if smoke else 500, keep_checkpoints=2, seed=0,
      fsdp_min_size=2**20)
  c.sample = dict(sampler="ddim", steps=20 if smoke else 60, eta=0.0,
                  num_samples=1000 if smoke else 10_000, seed=1, clip_x0=None)
  c.mesh = dict(data=-1)
  return c
