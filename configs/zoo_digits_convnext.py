"""Zoo: ConvNeXt-mini on the full 10-class digits task, 50 checkpoints (RPG's recipe).

COMMAND (collect + report, a few minutes on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_convnext.py --workdir=runs/zoo_digits_convnext
Smoke size (tests):
  python launch/main.py --config=configs/zoo_digits_convnext.py:smoke --workdir=runs/zoo_smoke

Recipe: 30 epochs of AdamW (lr 2e-3, warm-up 50 steps, cosine down to 1e-5, weight decay
0.05, ±1-pixel shifts), then one pass at 1e-5 over the training set cut into 50 batches,
saving after each one.

The same recipe makes the other full-task zoos (configs/zoo_digits_{vit,mlp,cnn,resnet_mini}.py
and the RPG configs on them): `FAMILIES` holds what each target family changes, with the
schedules of bench/targets.py.
"""

from paramgen_jax import configlib

BASE = dict(
    method="zoo",
    data=dict(name="digits", seed=0, image_size=0),
    model=dict(name="convnext_mini", options=dict()),
    tasks=dict(kind="full", num_unseen=0, split_seed=0, limit=0, pick="first", subset_k=5,
               subset_count=20),
    collect=dict(seeds=(0,), tasks_per_unit=1, epochs=30, batch_size=64, lr=2e-3, save_lr=1e-5,
                 warmup_steps=50, weight_decay=0.05, clip_norm=1.0, checkpoints=50,
                 augment_shift=1, label_smoothing=0.0, shared_init=False),
    eval=dict(noise_sigmas=(0.01, 0.05, 0.1), noise_per_sigma=25, seed=0),
    # Temporary memory (GiB) one chunk of evaluation, generation or collection may take.
    memory=dict(budget_gb=2.0),
    mesh=dict(data=-1),
)

SMOKE = {"collect.epochs": 2, "collect.checkpoints": 5, "eval.noise_per_sigma": 5}

# family (model name) -> (its overrides of BASE, its model options at smoke size)
FAMILIES = {
    "convnext_mini": ({}, dict(widths=(8, 16), depths=(1, 1))),
    "vit_tiny": ({"collect.epochs": 100, "collect.lr": 1e-3},
                 dict(dim=16, depth=1, heads=2, mlp_dim=32)),
    "mlp": ({"model.options": dict(hidden=(128,)), "collect.epochs": 60,
             "collect.augment_shift": 0}, dict(hidden=(16,))),
    "cnn": ({}, dict(channels=(4, 8))),
    "resnet_mini": ({"collect.epochs": 20}, dict(widths=(4, 8))),
}


def full_task_zoo(family: str, arg: str | None = None):
  """The full-task zoo of a target family (a key of `FAMILIES`) at preset `arg`."""
  overrides, smoke_options = FAMILIES[family]
  default = {"model.name": family, **overrides}
  return configlib.build(BASE, {"smoke": {**default, **SMOKE, "model.options": smoke_options},
                                "default": default}, arg)


def get_config(arg=None):
  return full_task_zoo("convnext_mini", arg)
