"""Zoo: LoRA adapters on the digits ViT-tiny, one per binary task (COND P-DIFF's zoo).

COMMAND (base model + adapters + report, a few minutes on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_lora.py --workdir=runs/zoo_digits_lora
Smoke size (tests):
  python launch/main.py --config=configs/zoo_digits_lora.py:smoke --workdir=runs/zoo_lora_smoke
Zero-shot zoo (LoRAGen's and the zero-shot COND P-DIFF's; 64 seen + 16 unseen tasks):
  python launch/main.py --config=configs/zoo_digits_lora.py:zeroshot --workdir=runs/zoo_lora_zs

1. Base: ViT-tiny (configs/zoo_digits_vit.py's model) trained on the full 10-class task,
   `adapter.base_epochs` epochs at `adapter.base_lr`; stored in <workdir>/base/.
2. Adapters: the base is frozen; LoRA (rank `adapter.rank`, on the query and value
   projections, as LoRA's paper) and a fresh 2-way head are trained per binary task, all tasks
   of a unit at once with vmap, from one shared initialisation. As in COND P-DIFF, the last
   N steps of each task are saved (`collect.checkpoints`): a final pass at `save_lr` cut
   into N batches. Tasks: the first seen and unseen tasks of the binary zoo's split
   (configs/zoo_digits_binary.py, split seed 0), so unseen here is unseen there too.
Task descriptions (five paraphrase templates per task) come with every manifest row.

`zeroshot`: 64 seen tasks drawn (seed 0) from the binary zoo's seen split, so that every
digit is positive in some tasks and negative in others (the first 16 are nearly all about the
digits 0-4), and the first 16 of its 20 unseen tasks; 5 checkpoints per task.
"""

from paramgen_jax import configlib

VIT_SMOKE = dict(dim=16, depth=1, heads=2, mlp_dim=32)  # configs/zoo_digits_vit.py:smoke's

BASE = dict(
    method="zoo",
    data=dict(name="digits", seed=0, image_size=0),
    model=dict(name="vit_tiny", options=dict()),
    # The binary zoo's split (configs/zoo_digits_binary.py), its first `limit` seen tasks.
    tasks=dict(kind="binary", num_unseen=20, split_seed=0, limit=16, pick="first", subset_k=5,
               subset_count=20, split="random", held_out_classes=(), far_radius=1),
    adapter=dict(rank=2, alpha=4.0, targets=("query", "value"), base_epochs=60, base_lr=1e-3,
                 base_seed=0),
    collect=dict(seeds=(0,), tasks_per_unit=20, epochs=6, batch_size=64, lr=3e-3, save_lr=1e-3,
                 warmup_steps=10, weight_decay=0.0, clip_norm=1.0, checkpoints=10,
                 augment_shift=1, label_smoothing=0.0, shared_init=True),
    eval=dict(noise_sigmas=(0.01, 0.05, 0.1), noise_per_sigma=2, seed=0,
              train_steps=(1, 10, 100), finetune_steps=10),
    # Temporary memory (GiB) one chunk of evaluation, generation or collection may take.
    memory=dict(budget_gb=2.0),
    mesh=dict(data=-1),
)

SMOKE = {"model.options": VIT_SMOKE, "adapter.base_epochs": 2, "collect.epochs": 1,
         **configlib.SMOKE_EVAL,
         "collect.checkpoints": 4, "tasks.limit": 4}
ZEROSHOT = {"tasks.limit": 64, "tasks.pick": "random", "collect.tasks_per_unit": 40,
            "collect.checkpoints": 5}

PRESETS = {
    "smoke": SMOKE,
    "default": {},
    "zeroshot": ZEROSHOT,
    "zeroshot_smoke": {**SMOKE, **ZEROSHOT, "tasks.limit": 8, "collect.tasks_per_unit": 8,
                       "collect.checkpoints": 2},
}


def get_config(arg=None):
  return configlib.build(BASE, PRESETS, arg)
