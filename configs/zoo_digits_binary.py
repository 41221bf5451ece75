"""Zoo: all 1022 binary relabelings of digits, 3 checkpoints each, trained at once with vmap.

COMMAND (collect + report, about 2 minutes on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_binary.py --workdir=runs/zoo_digits_binary
Smoke size (tests: 8 seen + 2 unseen tasks):
  python launch/main.py --config=configs/zoo_digits_binary.py:smoke --workdir=runs/zoo_binary_smoke
Far codes (`far`, `far_smoke`; the zoo of the `far` presets of configs/mapping_unseen_binary.py
and configs/rpg_unseen_binary.py):
  python launch/main.py --config=configs/zoo_digits_binary.py:far --workdir=runs/zoo_binary_far

Each task: an MLP (64 -> 128 -> 2), 40 epochs of AdamW (lr 3e-3, cosine down to 1e-5), then
one pass at 1e-5 in 3 batches saving after each. 20 tasks (seeded) are held out as unseen.
Every task starts from the same initial weights (`shared_init`), so that a conditional
generator can relate the weights of different tasks (RPG's unseen-task setting).

`far`: a split where a generator has something to learn. 12 unseen codes, each more than 2
bits from every other, and every code within 2 bits of one of them left out of the zoo, so
each unseen code's nearest seen code is 3 bits away (477 seen tasks); every task starts from
its own random initialization, so no seen task's weights are an unseen task's starting point.
"""

from paramgen_jax import configlib

BASE = dict(
    method="zoo",
    data=dict(name="digits", seed=0, image_size=0),
    model=dict(name="mlp", options=dict(hidden=(128,))),
    tasks=dict(kind="binary", num_unseen=20, split_seed=0, limit=0, pick="first", subset_k=5,
               subset_count=20, split="random", held_out_classes=(), far_radius=1),
    collect=dict(seeds=(0,), tasks_per_unit=1022, epochs=40, batch_size=64, lr=3e-3,
                 save_lr=1e-5, warmup_steps=20, weight_decay=0.01, clip_norm=1.0, checkpoints=3,
                 augment_shift=0, label_smoothing=0.0, shared_init=True),
    eval=dict(noise_sigmas=(0.01, 0.05, 0.1), noise_per_sigma=2, seed=0,
              train_steps=(1, 10, 100), finetune_steps=10),
    # Temporary memory (GiB) one chunk of evaluation, generation or collection may take.
    memory=dict(budget_gb=2.0),
    mesh=dict(data=-1),
)

SMOKE = {"tasks.limit": 8, "collect.epochs": 3, **configlib.SMOKE_EVAL}
FAR = {"tasks.split": "far_codes", "tasks.num_unseen": 12, "tasks.far_radius": 2,
       "collect.shared_init": False}

PRESETS = {
    "smoke": SMOKE,
    "default": {},
    "far": FAR,
    "far_smoke": {**SMOKE, **FAR},
}


def get_config(arg=None):
  return configlib.build(BASE, PRESETS, arg)
