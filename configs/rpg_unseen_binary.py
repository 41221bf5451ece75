"""RPG conditioned on the task's 10-bit code: train on the seen binary digit tasks, generate
classifiers for the 20 unseen ones.

COMMAND:
  python launch/main.py --config=configs/rpg_unseen_binary.py --workdir=runs/rpg_unseen_binary
Smoke size (tests):
  python launch/main.py --config=configs/rpg_unseen_binary.py:smoke --workdir=runs/rpg_unseen_smoke

Status: the default preset runs end to end, but its recipe is not tuned yet and its targets
are not measured (see README).
"""

import ml_collections

from paramgen_jax.configlib import preset


def get_config(arg=None):
  name = preset(arg, ("smoke", "default", "paper"))
  smoke, paper = name == "smoke", name == "paper"
  c = ml_collections.ConfigDict()
  c.method = "rpg"
  # The zoo (same sections as configs/zoo_digits_binary.py).
  c.data = dict(name="digits", seed=0, image_size=0)
  c.model = dict(name="mlp", options=dict(hidden=(16,) if smoke else (128,)))
  c.tasks = dict(kind="binary", num_unseen=20, split_seed=0, limit=8 if smoke else 0,
                 subset_k=5, subset_count=20)
  c.collect = dict(seeds=(0,), tasks_per_unit=1022, epochs=3 if smoke else 40, batch_size=64,
                   lr=3e-3, save_lr=1e-5, warmup_steps=20, weight_decay=0.01, clip_norm=1.0,
                   checkpoints=3, augment_shift=0, label_smoothing=0.0)
  c.eval = dict(noise_sigmas=(0.01, 0.05, 0.1), noise_per_sigma=2, seed=0)
  # The generator: conditioned on the bit vector, no permutation states.
  c.tokens = dict(size=64 if smoke else 256, granularity="layer")
  c.generator = dict(
      d_model=16 if smoke else (1024 if paper else 128), prototype_dim=16 if smoke else 128,
      backbone="mamba",
      backbone_options=dict(num_layers=1 if smoke else 2, d_state=4 if smoke else 32, d_conv=4,
                            expand=2, mode="scan"),
      position="2d", permutation="none", condition="bits",
      unet_encoder=(8, 16) if smoke else (32, 64, 128), unet_decoder=(8,) if smoke else (64, 32),
      diffusion_batch=64 if smoke else 256)
  c.diffusion = dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                     prediction="eps")
  c.train = dict(
      steps=20 if smoke else (120_000 if paper else 3000), batch_size=2 if smoke else 16,
      lr=1e-5 if paper else 1e-3, warmup_steps=5 if smoke else 100, final_lr_ratio=0.0,
      weight_decay=0.0, b1=0.9, b2=0.999, clip_norm=1.0, ema_decay=0.0,
      compute_dtype="bfloat16" if paper else "float32", log_every=10 if smoke else 50,
      checkpoint_every=10 if smoke else 500, keep_checkpoints=2, seed=0)
  c.sample = dict(sampler="ddim", steps=5 if smoke else 60, eta=0.05, num_samples=1, seed=1,
                  clip_x0=None)
  c.generate = dict(num_models=2 if smoke else 10, mode="partial", chunk=64 if smoke else 256)
  c.mesh = dict(data=-1)
  return c
