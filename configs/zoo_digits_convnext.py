"""Zoo: ConvNeXt-mini on the full 10-class digits task, 50 checkpoints (RPG's recipe).

COMMAND (collect + report, a few minutes on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_convnext.py --workdir=runs/zoo_digits_convnext
Smoke size (tests):
  python launch/main.py --config=configs/zoo_digits_convnext.py:smoke --workdir=runs/zoo_smoke

Recipe: 30 epochs of AdamW (lr 2e-3, warm-up 50 steps, cosine down to 1e-5, weight decay
0.05, ±1-pixel shifts), then one pass at 1e-5 over the training set cut into 50 batches,
saving after each one.
"""

import ml_collections

from paramgen_jax.configlib import preset


def get_config(arg=None):
  smoke = preset(arg) == "smoke"
  c = ml_collections.ConfigDict()
  c.method = "zoo"
  c.data = dict(name="digits", seed=0, image_size=0)
  c.model = dict(name="convnext_mini",
                 options=dict(widths=(8, 16), depths=(1, 1)) if smoke else dict())
  c.tasks = dict(kind="full", num_unseen=0, split_seed=0, limit=0, pick="first", subset_k=5,
                 subset_count=20)
  c.collect = dict(seeds=(0,), tasks_per_unit=1, epochs=2 if smoke else 30, batch_size=64,
                   lr=2e-3, save_lr=1e-5, warmup_steps=50, weight_decay=0.05, clip_norm=1.0,
                   checkpoints=5 if smoke else 50, augment_shift=1, label_smoothing=0.0,
                   shared_init=False)
  c.eval = dict(noise_sigmas=(0.01, 0.05, 0.1), noise_per_sigma=5 if smoke else 25, seed=0)
  # Temporary memory (GiB) one chunk of evaluation, generation or collection may take.
  c.memory = dict(budget_gb=2.0)
  c.mesh = dict(data=-1)
  return c
